"""Where each Jaco task's episode starts: which scene elements it uses and where the block, the
goal and those elements lie (ROS-free). scene.py applies a `Layout` at reset.

A task's goal is all the observation says about it (the 34-D observation has no other
task-specific slot), so every target is a goal position: a place on the bench or the platform
(the block resting there) or a point in the air (the block held there).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from skill_embedding_ros.tasks.jaco.props import (
    BLOCK_HALF,
    GOAL_RADIUS,
    PLATFORM_HALF,
    PLATFORM_TOP,
    WALL_HALF,
)

PRETRAINING = ("spring", "wall", "push", "lift", "rail_lift", "table_push")
"""The paper's pre-training tasks (paired for transfer: spring + wall, push + lift, rail-lift +
table-push). Names use "_" where the paper writes "-": a task name is also a ROS string."""
TRANSFER = ("spring_wall", "l_wall", "rail_push")
"""The paper's transfer tasks, one per pre-training pair."""
DEFAULT = "push"
"""The task of a reset that names none (a graph whose bridge has not been told the task)."""
LIFTED = ("lift", "rail_lift")
"""Tasks whose goal is a point in the air (the block held there), not a place to rest on."""

BLOCK_REGION = ((0.45, 0.55), (-0.1, 0.1))
"""m: (x range, y range) where a block on the bench starts, in front of the hand."""
GOAL_REGION = ((0.4, 0.65), (-0.25, 0.25))
"""m: (x range, y range) where a goal on the bench may lie."""
LIFT_HEIGHT = (0.1, 0.2)
"""m: the block's centre this high above the bench (lift, rail-lift): clear of the bench by 7.5
cm at least, within the arm's comfortable reach at most."""
PLATFORM_REGION = ((0.5, 0.6), (-0.1, 0.1))
"""m: where the platform's centre lies (table-push, rail-push)."""


@dataclass(frozen=True)
class Layout:
    """One episode's start: the block (x, y, z, yaw), the goal (x, y, z) and the elements used."""

    block: tuple[float, float, float, float]
    goal: tuple[float, float, float]
    walls: tuple[tuple[float, float, float], ...] = ()
    """(x, y, yaw) of each wall used (at most two), standing on the bench."""
    spring: bool = False
    """The spring ties the block to its start."""
    rail: bool = False
    """The block starts on the rail (it moves only up and down it)."""
    release: float | None = None
    """m: the carriage's height at which the rail lets the block go (None: it never does)."""
    platform: tuple[float, float] | None = None
    """(x, y) of the platform's centre, or None: no platform."""
    table: bool = True
    """The workspace part of the bench is there (rail-lift: nothing under the block)."""


def draw(task: str, rng: np.random.Generator) -> Layout:
    """A start for `task` (one of PRETRAINING + TRANSFER)."""
    if task not in _DRAW:
        raise ValueError(f"no layout for task {task!r}; known: {list(_DRAW)}")
    return _DRAW[task](rng)


def _uniform(rng, region) -> np.ndarray:
    return np.array([rng.uniform(*region[0]), rng.uniform(*region[1])])


def _yaw(rng) -> float:
    return float(rng.uniform(-np.pi, np.pi))


def _goal_from(rng, block, distance, region=GOAL_REGION) -> np.ndarray:
    """A goal (x, y) in `region`, `distance` (min, max) m from `block`."""
    for _ in range(1000):
        goal = _uniform(rng, region)
        if distance[0] <= np.linalg.norm(goal - block) <= distance[1]:
            return goal
    raise ValueError(f"no goal in {region} lies {distance} m from {block}")


def _push(rng) -> Layout:
    block = _uniform(rng, BLOCK_REGION)
    goal = _goal_from(rng, block, (0.1, 0.2))
    return Layout((*block, BLOCK_HALF, _yaw(rng)), (*goal, BLOCK_HALF))


def _spring(rng) -> Layout:
    return replace(_push(rng), spring=True)


def _wall(rng, spring: bool = False) -> Layout:
    """A wall across the line from block to goal, halfway: far enough from both that neither
    touches it (the goal 18-25 cm away)."""
    block = _uniform(rng, BLOCK_REGION)
    goal = _goal_from(rng, block, (0.18, 0.25))
    middle, heading = (block + goal) / 2, np.arctan2(*(goal - block)[::-1])
    return Layout(
        (*block, BLOCK_HALF, _yaw(rng)),
        (*goal, BLOCK_HALF),
        walls=((*middle, heading),),
        spring=spring,
    )


def _lift(rng) -> Layout:
    block = _uniform(rng, BLOCK_REGION)
    return Layout((*block, BLOCK_HALF, _yaw(rng)), (*block, rng.uniform(*LIFT_HEIGHT)))


def _rail_lift(rng) -> Layout:
    """The block on the rail (it starts at the rail's foot, facing the arm, with no table under
    it: the paper's rail-lift); the goal up the rail."""
    block = _uniform(rng, BLOCK_REGION)
    goal = (*block, rng.uniform(*LIFT_HEIGHT))
    return Layout((*block, BLOCK_HALF, 0.0), goal, rail=True, table=False)


def _on_platform_edge(rng, centre) -> np.ndarray:
    """A block position (x, y) on the platform, touching one of its four edges from inside."""
    side = rng.integers(4)
    inset = np.array(PLATFORM_HALF) - BLOCK_HALF - 0.005
    along = rng.uniform(-1, 1) * inset
    offset = np.array([[inset[0], along[1]], [-inset[0], along[1]],
                       [along[0], inset[1]], [along[0], -inset[1]]])[side]  # fmt: skip
    return centre + offset


def _table_push(rng) -> Layout:
    """From the platform's edge to its centre (within 2 cm)."""
    centre = _uniform(rng, PLATFORM_REGION)
    block = _on_platform_edge(rng, centre)
    goal = centre + rng.uniform(-0.02, 0.02, 2)
    top = PLATFORM_TOP + BLOCK_HALF
    return Layout((*block, top, _yaw(rng)), (*goal, top), platform=tuple(centre))


def _l_wall(rng) -> Layout:
    """The goal in the corner of an L of two walls, the block on a ring around it (14-20 cm
    away) anywhere outside the L's two arms, so it must come round to the open side."""
    goal = _uniform(rng, ((0.5, 0.6), (-0.1, 0.1)))
    turn = _yaw(rng)
    arm = WALL_HALF[1] - WALL_HALF[0]
    clear = GOAL_RADIUS + WALL_HALF[0]
    walls = []
    for k in (0, 1):  # two arms at right angles, each `clear` behind the goal on its side
        a = turn + k * np.pi / 2
        normal, along = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
        centre = goal - clear * normal + (arm - clear) * along * (1 if k == 0 else -1)
        walls.append((*centre, a))
    for _ in range(1000):
        bearing = _yaw(rng)
        block = goal + rng.uniform(0.14, 0.2) * np.array([np.cos(bearing), np.sin(bearing)])
        inside_bench = BLOCK_REGION[0][0] - 0.1 <= block[0] <= 0.7 and abs(block[1]) <= 0.3
        if inside_bench and _clear_of(block, walls):
            break
    return Layout((*block, BLOCK_HALF, _yaw(rng)), (*goal, BLOCK_HALF), walls=tuple(walls))


def _clear_of(point, walls, margin=BLOCK_HALF * 1.5 + 0.01) -> bool:
    for x, y, yaw in walls:
        rot = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]])
        local = np.abs(rot @ (np.asarray(point) - (x, y)))
        if local[0] < WALL_HALF[0] + margin and local[1] < WALL_HALF[1] + margin:
            return False
    return True


def _rail_push(rng) -> Layout:
    """The rail beside the platform (its block just off one edge, facing the arm); the rail
    lets go at the platform's height; the goal at the platform's centre."""
    centre = _uniform(rng, PLATFORM_REGION)
    side = 1.0 if rng.random() < 0.5 else -1.0
    block = centre + np.array([0.0, side * (PLATFORM_HALF[1] + BLOCK_HALF + 0.01)])
    goal = centre + rng.uniform(-0.02, 0.02, 2)
    release = PLATFORM_TOP + 0.01
    return Layout(
        (*block, BLOCK_HALF, 0.0),
        (*goal, PLATFORM_TOP + BLOCK_HALF),
        rail=True,
        release=release,
        platform=tuple(centre),
    )


_DRAW = {
    "push": _push,
    "spring": _spring,
    "wall": _wall,
    "lift": _lift,
    "rail_lift": _rail_lift,
    "table_push": _table_push,
    "spring_wall": lambda rng: _wall(rng, spring=True),
    "l_wall": _l_wall,
    "rail_push": _rail_push,
}
