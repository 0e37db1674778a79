"""How much of a skill do the demonstrations in a store carry? Behaviour cloning alone, then an
evaluation (docs/jaco_pretraining_first_runs.md, "With demonstrations and imitation").

A run config's networks are built fresh; only the policy trains, on the store's episodes, by the
imitation loss of `agent.imitation` (agent/losses.py: squared error between the mean action and
the demonstrated one), with z drawn from each task's p(z|t) as the learner draws it. Nothing
acts while it trains. The policy is then evaluated as `skill-embedding evaluate` scores a run
(mean actions, z ~ p(z|t), the strict success rule). A ceiling for what the imitation term can
teach, and a check that a demonstration set is worth training with:

    python scripts/clone_demos.py --config config/jaco_push_lift_imitation.yaml \\
        --demos runs/demos/jaco_push_lift_store --out results/jaco_clone_demos.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from skill_embedding_ros.agent import distributions as D
from skill_embedding_ros.agent import losses
from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.provenance import git_commit
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.training.demos import demo_episodes
from skill_embedding_ros.training.evaluate import evaluate


def clone(nets, episodes, updates: int, batch: int, lr: float, seed: int) -> list[float]:
    """Train nets.policy on every step of `episodes`; the loss every 1000 updates."""
    obs = np.concatenate([e.obs[:-1] for e in episodes])
    action = np.concatenate([e.action for e in episodes])
    task = np.concatenate([np.full(len(e.action), e.task) for e in episodes])
    optimizer = torch.optim.Adam(nets.policy.parameters(), lr=lr)
    return clone_steps(nets, optimizer, obs, action, task, updates, batch, seed)


def clone_steps(
    nets,
    optimizer,
    obs,
    action,
    task,
    updates: int,
    batch: int,
    seed: int,
    fit_std=False,
    embedding_alpha: float | None = None,
):
    """`updates` steps of the imitation loss on rows of (obs, action, task) drawn uniformly, z
    from p(z|task); the imitation loss every 1000 updates. `fit_std` also fits the policy's
    standard deviations, so that its sampled actions spread as far as the expert's actions lie
    from its mean (std_loss), through the output layer only: fitted through the shared hidden
    layers too, the widths took their capacity and the imitation error rose 2-3 times
    (docs/jaco_pretraining.md). `embedding_alpha` trains p(z|t) too (its parameters must be in
    `optimizer`): z is reparameterized, so the imitation error reaches the embedding, which
    pays `embedding_alpha` x its entropy as the learner's embedding loss does (alpha1), so
    that the tasks' distributions part only as far as their actions need."""
    head = list(nets.policy.net[-1].parameters())
    obs, action, task = (torch.as_tensor(np.asarray(x)) for x in (obs, action, task))
    generator = torch.Generator().manual_seed(seed)
    curve = []
    for k in tqdm(range(updates), desc="cloning", unit="update", mininterval=2.0):
        rows = torch.randint(len(obs), (batch,), generator=generator)
        params = nets.embedding(task[rows])
        if embedding_alpha is None:
            z = nets.latent.sample(params, generator)  # without gradient: p(z|t) held
        else:
            z = nets.latent.rsample(params)
        mean, log_std = nets.policy(obs[rows], z)
        imitation = losses.imitation_loss(torch.tanh(mean), action[rows])
        loss = imitation
        if embedding_alpha is not None:
            loss = loss - embedding_alpha * nets.latent.entropy(params).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward(retain_graph=fit_std)
        if fit_std:
            widths = torch.autograd.grad(std_loss(mean, log_std, action[rows]), head)
            for param, grad in zip(head, widths, strict=True):
                param.grad += grad
        optimizer.step()
        if k % 1000 == 0 or k == updates - 1:
            curve.append(round(imitation.item(), 5))
    return curve


def std_loss(mean, log_std, action):
    """Negative log-likelihood of the expert's pre-squash action under N(mean, exp(log_std)),
    the mean held (the squared error trains it, in action space). The target is clipped as the
    imitation target is (losses.IMITATION_BOUND), so a saturated expert does not stretch the
    width towards atanh(1). Its minimum is at the mean squared residual per state."""
    target = D.atanh_clipped(action.clamp(-losses.IMITATION_BOUND, losses.IMITATION_BOUND))
    return (0.5 * ((target - mean.detach()) / log_std.exp()) ** 2 + log_std).mean()


def write_result(path: Path | None, result: dict) -> None:
    """`result` as indented JSON at `path` (its folder made), when a path is given."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="run YAML: suite, tasks, networks")
    p.add_argument("--demos", required=True, help="replay store of demonstrations")
    p.add_argument("--updates", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=256, help="steps per update")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--hidden", type=int, nargs="+", help="policy layers instead of the config's")
    p.add_argument("--episodes", type=int, default=20, help="evaluation episodes per task")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="JSON file to write")
    args = p.parse_args()
    cfg = load_run_config(args.config)
    if args.hidden:
        cfg.agent.hidden = tuple(args.hidden)
    suite = get_suite(cfg.train.suite)
    tasks = list(cfg.train.tasks)
    torch.manual_seed(args.seed)
    # One thread, as the trainer: with two per process, two runs sharing two cores made 7-16
    # updates/s, against 190-250 with one (docs/jaco_pretraining.md).
    torch.set_num_threads(1)
    nets = build_networks(cfg)
    try:
        episodes = demo_episodes(
            args.demos, suite.obs_dim, suite.action_dim, cfg.agent.z_dim, tuple(tasks)
        )
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    curve = clone(nets, episodes, args.updates, args.batch, args.lr, args.seed)
    report, _ = evaluate(nets, suite, tasks, episodes=args.episodes)
    result = {
        "command": "python scripts/clone_demos.py " + " ".join(sys.argv[1:]),
        "commit": git_commit(),
        "demonstrations": {"episodes": len(episodes), "steps": sum(len(e) for e in episodes)},
        "policy_hidden": list(cfg.agent.hidden),
        "loss_every_1000_updates": curve,
        "minutes": round((time.perf_counter() - start) / 60, 1),
        "per_task": [
            {k: r[k] for k in ("task", "success_rate", "touched_rate", "mean_return")}
            for r in report["per_task"]
        ],
    }
    print(json.dumps(result, indent=1))
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
