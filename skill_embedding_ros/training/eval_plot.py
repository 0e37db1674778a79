"""The evaluation picture: z samples by task, and each task's episodes coloured by what they
did (strictly; grey: nothing)."""

from __future__ import annotations

import numpy as np

from skill_embedding_ros.tasks.suite import TaskSuite
from skill_embedding_ros.training.rollout import Rollouts


def plot_evaluation(report: dict, rollouts: list[Rollouts], suite: TaskSuite, path) -> None:
    """z samples coloured by task, and each task's rollouts coloured by their strict outcome."""
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
            x = r.z[:, 0] if z_dim else np.zeros(len(r.z))
            y = r.z[:, 1] if z_dim > 1 else np.zeros(len(r.z))
            ax.scatter(x, y, s=12, color=colors(t), label=f"t{t} {r.task}", alpha=0.7)
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]" if z_dim > 1 else "")
    ax.set_title("z ~ p(z|t) by task")
    ax.legend(fontsize=7)
    for ax, r, row in zip(axes[0, 1:], rollouts, report["per_task"], strict=True):
        suite.plot_episodes(ax, r.task, r.obs, r.outcome)
        ax.set_title(
            f"t{row['task_id']} {r.task}: success {row['success_rate']:.0%} "
            f"(touched {row['touched_rate']:.0%}), {row['distinct_solutions']} solution(s)",
            fontsize=8,
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
