"""Evaluation pictures of the point mass: goal regions and the paths of the target."""

from __future__ import annotations

import numpy as np


def plot_paths(ax, suite, task: str, paths: np.ndarray, outcomes: np.ndarray) -> None:
    """Regions (filled: rewarded by `task`) and paths [N, L+1, 2] coloured by outcome."""
    import matplotlib.pyplot as plt

    region_colors = plt.get_cmap("Set1")
    rewarded = suite.task_goals(task)
    for g, (gx, gy) in enumerate(suite.goals):
        ax.add_patch(
            plt.Circle(
                (gx, gy),
                suite.goal_radius,
                fill=g in rewarded,
                alpha=0.25,
                color=region_colors(g),
                lw=1.5,
            )
        )
    for xy, outcome in zip(paths, outcomes, strict=True):
        color = region_colors(outcome) if outcome >= 0 else "0.6"
        ax.plot(xy[:, 0], xy[:, 1], lw=0.8, alpha=0.7, color=color)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
