"""Evaluation of a trained embedding: per-task success, the distinct solutions reached when
sampling z ~ p(z|t), and the KL divergence between the embeddings of every pair of tasks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from skill_embedding_ros.agent.actor import ActorCore, EmbeddingZ
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.suite import TaskSuite


@dataclass
class Rollouts:
    """Evaluation episodes of one task: observations [N, L+1, S], z [N, Z], the suite's
    outcome of each episode [N] (-1: not solved), returns [N]."""

    task: str
    obs: np.ndarray
    z: np.ndarray
    solution: np.ndarray
    returns: np.ndarray


def rollout_task(
    nets, suite: TaskSuite, tasks: list[str], task_id: int, episodes: int, seed: int, z_hold=0
) -> Rollouts:
    """Run `episodes` episodes of one task with mean actions, z ~ p(z|t) per episode (redrawn
    every `z_hold` steps when set, as in training)."""
    envs = [SuiteEnv(suite, tasks, seed=seed + i) for i in range(episodes)]
    obs = np.stack([e.reset(options={"task": task_id})[0] for e in envs])
    generator = torch.Generator().manual_seed(seed)
    core = ActorCore(
        EmbeddingZ(nets.embedding),
        nets.policy,
        episodes,
        nets.latent.z_dim,
        z_hold,
        True,
        generator,
    )
    for i in range(episodes):
        core.begin(i, task_id)
    traj, rewards, first_z = [obs], [], None
    for _ in range(suite.episode_steps):
        decision = core.act(obs)
        first_z = decision.z if first_z is None else first_z
        steps = [e.step(a) for e, a in zip(envs, decision.action, strict=True)]
        obs = np.stack([s[0] for s in steps])
        traj.append(obs)
        rewards.append([s[1] for s in steps])
    traj = np.stack(traj, 1)
    name = tasks[task_id]
    return Rollouts(
        task=name,
        obs=traj,
        z=first_z,
        solution=suite.outcomes(name, traj),
        returns=np.sum(rewards, 0),
    )


@torch.no_grad()
def kl_matrix(nets) -> np.ndarray:
    """KL(p(z|t_i) || p(z|t_j)) for every pair of task ids: [T, T] (nats)."""
    params = nets.embedding(torch.arange(nets.num_tasks))
    return nets.latent.kl(params[:, None], params[None, :]).numpy()


def evaluate(
    nets,
    suite: TaskSuite,
    tasks: list[str],
    episodes: int = 50,
    seed: int = 12345,
    min_episodes: int = 2,
    z_hold: int = 0,
):
    """Report dict (JSON-ready) and the rollouts behind it.

    An outcome (e.g. a goal region) counts as a distinct solution when at least `min_episodes`
    of the sampled z reach it, so a single lucky episode is not counted as a skill.
    """
    per_task, rollouts = [], []
    for t, name in enumerate(tasks):
        r = rollout_task(nets, suite, tasks, t, episodes, seed + 1000 * t, z_hold)
        found = {int(g): int((r.solution == g).sum()) for g in suite.solutions(name)}
        per_task.append(
            {
                "task_id": t,
                "task": name,
                "success_rate": float((r.solution >= 0).mean()),
                "mean_return": float(r.returns.mean()),
                "episodes_per_outcome": found,
                "distinct_solutions": sum(n >= min_episodes for n in found.values()),
            }
        )
        rollouts.append(r)
    kl = kl_matrix(nets)
    return {
        "suite": suite.name,
        "tasks": list(tasks),
        "episodes_per_task": episodes,
        "min_episodes_per_solution": min_episodes,
        "per_task": per_task,
        "kl": kl.round(4).tolist(),
    }, rollouts


def plot_evaluation(report: dict, rollouts: list[Rollouts], suite: TaskSuite, path) -> None:
    """z samples coloured by task, and each task's rollouts coloured by the solution found."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = 1 + len(rollouts)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.2), squeeze=False)
    ax = axes[0, 0]
    colors = plt.get_cmap("tab10")
    z_dim = rollouts[0].z.shape[1]
    binary = np.all(np.isin(np.concatenate([r.z for r in rollouts]), (0.0, 1.0)))
    if binary:
        codes = 2**z_dim
        width = 0.8 / len(rollouts)
        for t, r in enumerate(rollouts):
            code = (r.z * (2 ** np.arange(z_dim))).sum(1).astype(int)
            freq = np.bincount(code, minlength=codes) / len(code)
            ax.bar(
                np.arange(codes) + t * width, freq, width, color=colors(t), label=f"t{t} {r.task}"
            )
        ax.set_xticks(np.arange(codes) + 0.4 - width / 2, [f"{c:0{z_dim}b}" for c in range(codes)])
        ax.set_xlabel("code z (bits)")
        ax.set_ylabel("share of samples")
    else:
        for t, r in enumerate(rollouts):
            y = r.z[:, 1] if z_dim > 1 else np.zeros(len(r.z))
            ax.scatter(r.z[:, 0], y, s=12, color=colors(t), label=f"t{t} {r.task}", alpha=0.7)
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]" if z_dim > 1 else "")
    ax.set_title("z ~ p(z|t) by task")
    ax.legend(fontsize=7)
    for ax, r, row in zip(axes[0, 1:], rollouts, report["per_task"], strict=True):
        suite.plot_episodes(ax, r.task, r.obs, r.solution)
        ax.set_title(
            f"t{row['task_id']} {r.task}: success {row['success_rate']:.0%}, "
            f"{row['distinct_solutions']} solution(s)",
            fontsize=9,
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
