"""Can the skill policy learn the Jaco tasks by imitation when the demonstrator can be asked at
the policy's own states? DAgger (Ross et al., 2011) with the reactive controller
(tasks/jaco/reactive.py) as the expert (docs/jaco_pretraining.md).

Round 0 rolls out the expert; every later round rolls out the policy (mean actions, z drawn from
p(z|t) per episode, as the evaluation acts) and labels each state it visits with the expert's
action. Every labelled state is kept; after each round the policy trains on all of them by the
imitation loss (scripts/clone_demos.py), its Adam state carried over, and is evaluated as
`skill-embedding evaluate` scores a run. Only the policy trains; nothing here is the paper's
method, which learns from rewards: it measures whether the paper's policy network, fed z from
p(z|t), can hold these skills at all, and gives labelled states for agent.imitation.

    python scripts/dagger_jaco.py --config config/jaco_push_lift_imitation.yaml \\
        --out results/jaco_dagger.json

`--checkpoint` saves the last round's embedding and policy as an actor checkpoint, which
`skill-embedding train --start-from` takes (its critics then start fresh) and `evaluate` scores.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from clone_demos import clone_steps, write_result

from skill_embedding_ros.agent import losses
from skill_embedding_ros.agent.actor import act
from skill_embedding_ros.agent.checkpoint import save_actor_checkpoint
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.provenance import git_commit
from skill_embedding_ros.settings.run import add_set_option, load_run_config, to_dict
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.jaco.reactive import ReactiveController
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.training.evaluate import evaluate, kl_extremes
from skill_embedding_ros.training.trainer import hold_steps


def rollouts(nets, suite, tasks, episodes: int, seed: int, expert_share: float):
    """States visited and the expert's action at each: (obs [N, S], action [N, A], task [N]).
    At each step the expert acts with probability `expert_share` (1: the expert's round), else
    the policy (its mean action)."""
    experts = [ReactiveController(suite, t) for t in tasks]
    rng = np.random.default_rng(seed)
    obs_out, action_out, task_out = [], [], []
    for k, _ in enumerate(tasks):
        envs = [SuiteEnv(suite, tasks, seed=seed + 1000 * k + i) for i in range(episodes)]
        obs = np.stack([e.reset(options={"task": k})[0] for e in envs])
        with torch.no_grad():
            z = nets.latent.sample(nets.embedding(torch.full((episodes,), k))).numpy()
        for _ in range(suite.episode_steps):
            label = np.stack([experts[k](o) for o in obs]).astype(np.float32)
            obs_out.append(obs)
            action_out.append(label)
            task_out.append(np.full(episodes, k))
            expert = rng.random(episodes) < expert_share
            actions = label
            if not expert.all():  # the expert's own round asks nothing of the policy
                with torch.no_grad():
                    policy, _ = act(nets.policy, obs.astype(np.float32), z, deterministic=True)
                actions = np.where(expert[:, None], label, policy)
            obs = np.stack([e.step(a)[0] for e, a in zip(envs, actions, strict=True)])
    return np.concatenate(obs_out), np.concatenate(action_out), np.concatenate(task_out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="run YAML: suite, tasks, networks")
    p.add_argument("--rounds", type=int, default=6, help="policy rounds after the expert's")
    p.add_argument("--episodes", type=int, default=10, help="rollouts per task and round")
    p.add_argument("--updates", type=int, default=3000, help="imitation updates per round")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-episodes", type=int, default=10, help="per task, after each round")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, nargs="+", help="policy layers instead of the config's")
    p.add_argument(
        "--beta",
        type=float,
        default=0.0,
        help="round r >= 1 lets the expert act at each step with probability beta**r (Ross et "
        "al.'s mixture), so states past a phase the policy cannot reach yet get labelled too; "
        "0, the default: the policy alone",
    )
    p.add_argument(
        "--standardize",
        action="store_true",
        help="standardize the policy's observation (agent.normalize) by the expert round's "
        "states, the statistics then held fixed",
    )
    p.add_argument(
        "--fit-std",
        action="store_true",
        help="fit the policy's standard deviations too (maximum likelihood of the expert's "
        "pre-squash action, the mean held), so that its exploration starts near the expert",
    )
    p.add_argument(
        "--embedding-alpha",
        type=float,
        help="train p(z|t) too, by the imitation loss through z and this weight on its entropy "
        "(the learner's alpha1), so that z can name the task where the observation does not; "
        "unset, the default: p(z|t) stays N(0, 1) for every task",
    )
    add_set_option(p, "'train.tasks=[spring, wall]'")
    p.add_argument("--out", type=Path, help="JSON file to write")
    p.add_argument(
        "--checkpoint", type=Path, help="actor checkpoint of the last round's policy to write"
    )
    args = p.parse_args()
    overrides = args.set + (["agent.normalize=true"] if args.standardize else [])
    cfg = load_run_config(args.config, tuple(overrides))
    if args.hidden:
        cfg.agent.hidden = tuple(args.hidden)
    suite, tasks = get_suite(cfg.train.suite), list(cfg.train.tasks)
    torch.manual_seed(args.seed)
    # One thread, as the trainer: with two per process, two runs sharing two cores made 7-16
    # updates/s, against 190-250 with one (docs/jaco_pretraining.md).
    torch.set_num_threads(1)
    nets = build_networks(cfg)
    trained = list(nets.policy.parameters())
    if args.embedding_alpha is not None:
        trained += list(nets.embedding.parameters())
    optimizer = torch.optim.Adam(trained, lr=args.lr)
    data: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    rounds = []
    start = time.perf_counter()
    for r in range(args.rounds + 1):
        seed = args.seed * 100_000 + r * 10_000
        share = 1.0 if r == 0 else args.beta**r
        data.append(rollouts(nets, suite, tasks, args.episodes, seed, share))
        if r == 0 and args.standardize:  # only the learner's update moves them: held fixed here
            nets.policy.obs_norm.update(torch.as_tensor(data[0][0]))
        obs, action, task = (np.concatenate(x) for x in zip(*data, strict=True))
        curve = clone_steps(
            nets,
            optimizer,
            obs,
            action,
            task,
            args.updates,
            args.batch,
            seed,
            args.fit_std,
            args.embedding_alpha,
        )
        report, _ = evaluate(nets, suite, tasks, episodes=args.eval_episodes)
        row = {
            "round": r,
            "labelled_states": len(obs),
            "loss": curve[-1],
            "loss_per_task": task_errors(nets, obs, action, task, tasks),
            "minutes": round((time.perf_counter() - start) / 60, 1),
            "kl_max_min": kl_extremes(report["kl"]),
            "success_and_return": {
                t["task"]: [t["success_rate"], round(t["mean_return"], 1)]
                for t in report["per_task"]
            },
        }
        rounds.append(row)
        print(json.dumps(row), flush=True)
        # Every round is written, so a run stopped early keeps its last finished round.
        save(args, cfg, nets, rounds)
    return 0


def task_errors(nets, obs, action, task, tasks) -> dict[str, float]:
    """The imitation error of the policy's mean action on each task's labelled states, z ~
    p(z|t): where the policy falls short of the expert."""
    errors, generator = {}, torch.Generator().manual_seed(0)  # the run's own draws untouched
    with torch.no_grad():
        for k, name in enumerate(tasks):
            rows = torch.as_tensor(task == k)
            x = torch.as_tensor(obs)[rows]
            z = nets.latent.sample(nets.embedding(torch.full((len(x),), k)), generator)
            mean, _ = nets.policy(x, z)
            label = torch.as_tensor(action)[rows]
            errors[name] = round(losses.imitation_loss(torch.tanh(mean), label).item(), 5)
    return errors


def save(args, cfg, nets, rounds) -> None:
    """The rounds so far to --out and the policy to --checkpoint."""
    command = "python scripts/dagger_jaco.py " + shlex.join(sys.argv[1:])
    result = {
        "command": command,
        "commit": git_commit(),
        "policy_hidden": list(cfg.agent.hidden),
        "standardized": args.standardize,
        "fit_std": args.fit_std,
        "beta": args.beta,
        "embedding_alpha": args.embedding_alpha,
        "rounds": rounds,
    }
    write_result(args.out, result)
    if args.checkpoint:
        args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        meta = {"config": to_dict(cfg), "env_steps": 0, "command": command}
        save_actor_checkpoint(args.checkpoint, Learner(nets, hold_steps(cfg)), meta)


if __name__ == "__main__":
    sys.exit(main())
