"""The Jaco tasks' rewards and solution tests: pure functions of the 34-D observation
(observations.LAYOUT), so a simulated episode, a hardware trial and an ingested bag score alike.

Two kinds of target, told apart only by the task (the observation holds the goal's position and
nothing else about the task):
* *placed* (push, spring, wall, table-push, and the transfer tasks): the block rests in the goal
  region, a disc of GOAL_RADIUS around the goal in the plane, at the goal's height within
  ON_SURFACE (on the bench or the platform, not lifted over it or fallen off);
* *held* (lift, rail-lift): the block's centre within GOAL_RADIUS of the goal point in the air.

Pre-training rewards are shaped, in [0, 1]:
    r = 0.2 (1 - tanh(4 |ee - block|)) + 0.5 (1 - tanh(5 d)) + 0.3 [in the target]
with d the block's distance to the goal (in the plane for placed targets, in space for held
ones). The reach term halves at 14 cm, the bring term at 11 cm, so both still pull from where
an episode starts (the hand 12-32 cm from the block); the sparse term is the task. Transfer
rewards are sparse, [in the target], as in the paper; rail-push is lightly shaped,
0.1 (1 - tanh(5 |block - goal|)) + [in the target], since its block must first go up the rail,
away from where it ends.
"""

from __future__ import annotations

import numpy as np

from skill_embedding_ros.tasks.jaco.observations import SLICES
from skill_embedding_ros.tasks.jaco.props import GOAL_RADIUS

REACH_SCALE = 4.0
"""1/m: the reach term halves at 14 cm from the block (tanh(4 x 0.137) = 0.5). At 10/m (the first
runs) it was flat where episodes start: 0.007 of its 0.2 at the median 20 cm
(docs/jaco_pretraining.md)."""
BRING_SCALE = 5.0
"""1/m: the bring term halves at 11 cm from the goal, so it still pulls across the workspace."""
WEIGHTS = (0.2, 0.5, 0.3)
"""(reach, bring, in the target): the shaped terms guide, the sparse one is the task; sum 1."""
ON_SURFACE = 0.02
"""m: how far the block's centre may be from the goal's height and still rest at the goal (a
lifted or toppled-off block is not in the region)."""
RAIL_PUSH_SHAPING = 0.1
"""Weight of rail-push's bring term: a hint, a tenth of the success reward."""


def placed(obs: np.ndarray) -> np.ndarray:
    """Whether the block rests in the goal region: [..., S] -> [...] bool."""
    obs = np.asarray(obs)
    block, goal = obs[..., SLICES["block_position"]], obs[..., SLICES["goal"]]
    planar = np.linalg.norm(block[..., :2] - goal[..., :2], axis=-1)
    return (planar < GOAL_RADIUS) & (np.abs(block[..., 2] - goal[..., 2]) < ON_SURFACE)


def held(obs: np.ndarray) -> np.ndarray:
    """Whether the block's centre is within GOAL_RADIUS of the goal point: [..., S] -> [...]."""
    obs = np.asarray(obs)
    return _distance(obs, planar=False) < GOAL_RADIUS


def shaped(obs: np.ndarray, lifted: bool) -> np.ndarray:
    """The pre-training reward (module docstring): [..., S] -> [...] float."""
    obs = np.asarray(obs)
    block = obs[..., SLICES["block_position"]]
    reach = np.linalg.norm(obs[..., SLICES["end_effector"]] - block, axis=-1)
    w_reach, w_bring, w_in = WEIGHTS
    target = held(obs) if lifted else placed(obs)
    return (
        w_reach * (1 - np.tanh(REACH_SCALE * reach))
        + w_bring * (1 - np.tanh(BRING_SCALE * _distance(obs, planar=not lifted)))
        + w_in * target
    )


def sparse(obs: np.ndarray) -> np.ndarray:
    """1 where the block rests in the goal region, else 0: [..., S] -> [...] float."""
    return placed(obs).astype(np.float64)


def rail_push(obs: np.ndarray) -> np.ndarray:
    """sparse + RAIL_PUSH_SHAPING (1 - tanh(5 |block - goal|)): [..., S] -> [...] float."""
    bring = 1 - np.tanh(BRING_SCALE * _distance(np.asarray(obs), planar=False))
    return sparse(obs) + RAIL_PUSH_SHAPING * bring


def _distance(obs: np.ndarray, planar: bool) -> np.ndarray:
    block, goal = obs[..., SLICES["block_position"]], obs[..., SLICES["goal"]]
    if planar:
        block, goal = block[..., :2], goal[..., :2]
    return np.linalg.norm(block - goal, axis=-1)
