"""A scripted demonstrator for the point mass: what a teleoperator or a scripted controller
would record, for the bag-ingestion tests and the learning-from-bags experiment."""

from __future__ import annotations

import numpy as np


def reach_goal(suite, goal: int, noise: float = 0.2):
    """A controller(obs, rng) -> command: velocity towards goal region `goal` (saturating past
    the 1 m/s limit on purpose: the ingester clips), plus Gaussian exploration noise (m/s)."""
    target = np.asarray(suite.goals[goal])

    def controller(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.clip(3.0 * (target - obs[:2]) + rng.normal(0, noise, 2), -1.5, 1.5)

    return controller
