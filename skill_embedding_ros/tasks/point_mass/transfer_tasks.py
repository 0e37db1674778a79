"""Point-mass transfer tasks: new tasks on the reach scene, solved by skills pre-trained on its
single-region tasks (docs/transfer.md).

* "sequence": rewarded (1 per step) in region B only after the mass has visited region A. That
  the past matters would make the reward a function of the history; instead the observer keeps
  one bit of state, "A visited so far", and appends it to the observation, so reward and
  success stay pure functions of the observation (tasks/suite.py).
* "between": a region midway between two learned goals (interpolation), rewarded 1 per step.

The observation is the reach suite's (positions, velocities) followed by the visited flag, so
skills trained on `reach` read the first `REACH.obs_dim` entries unchanged: the layout rule a
transfer suite follows (transfer/skills.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from skill_embedding_ros.tasks.point_mass.observations import PlanarObserver
from skill_embedding_ros.tasks.point_mass.suites import REACH, PointMassSuite
from skill_embedding_ros.tasks.suite import Pose

SEQUENCE, BETWEEN = "sequence", "between"


def in_region(position: np.ndarray, centre, radius: float) -> np.ndarray:
    """Whether planar positions [..., 2] lie inside the disc (centre, radius): [...] bool."""
    return np.linalg.norm(np.asarray(position)[..., :2] - np.asarray(centre), axis=-1) < radius


class VisitedObserver(PlanarObserver):
    """The planar observation plus one flag: 1.0 once the mass has been inside region A this
    episode (the current state included), else 0.0. Stateful: `reset` at each episode start."""

    def __init__(self, joints: Sequence[str], objects: Sequence[str], centre, radius: float):
        super().__init__(joints, objects)
        self.centre, self.radius = tuple(centre), radius
        self.visited = False

    def reset(self) -> None:
        self.visited = False

    def __call__(
        self,
        positions: Mapping[str, float],
        velocities: Mapping[str, float],
        poses: Mapping[str, Pose],
        stamp_ns: int,
    ) -> np.ndarray:
        obs = super().__call__(positions, velocities, poses, stamp_ns)
        self.visited = self.visited or bool(in_region(obs[0:2], self.centre, self.radius))
        return np.append(obs, np.float32(self.visited))


@dataclass(frozen=True, eq=False)
class TransferSuite(PointMassSuite):
    """The reach scene with the transfer tasks. Regions: the scene's goals, the last of which
    is the "between" region; `sequence` names regions A and B by index."""

    sequence: tuple[int, int]
    """(A, B): "sequence" rewards region B once region A was visited."""

    @property
    def tasks(self) -> tuple[str, ...]:
        return (SEQUENCE, BETWEEN)

    @property
    def obs_dim(self) -> int:
        return super().obs_dim + 1

    def observer(self) -> VisitedObserver:
        a = self.sequence[0]
        return VisitedObserver(self.joints, self.objects, self.goals[a], self.goal_radius)

    def task_goals(self, task: str) -> tuple[int, ...]:
        self.check_task(task)
        return (self.sequence[1],) if task == SEQUENCE else (len(self.goals) - 1,)

    def _rewarded(self, task: str, obs: np.ndarray) -> np.ndarray:
        """[..., S] -> [...] bool: in the task's region (and, for sequence, after A)."""
        inside = np.isin(self.goal_index(obs), self.task_goals(task))
        return inside & (obs[..., -1] > 0.5) if task == SEQUENCE else inside

    def rewards(self, tasks: Sequence[str], obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        return np.stack([self._rewarded(t, obs) for t in tasks], -1).astype(np.float32)

    def visits(self, task: str, obs: np.ndarray) -> np.ndarray:
        """The task's region where a step's state is rewarded, else -1: [N, L+1, S] -> [N, L].
        A sequence step in B before A was visited is not a visit: it does not solve the task."""
        after = np.asarray(obs)[:, 1:]
        return np.where(self._rewarded(task, after), self.task_goals(task)[0], -1)


def _midpoint(i: int, j: int) -> tuple[float, float]:
    (xi, yi), (xj, yj) = REACH.goals[i], REACH.goals[j]
    return (round((xi + xj) / 2, 6), round((yi + yj) / 2, 6))


# Skills from config/reach_tasks.yaml learn goal_0, goal_1 and goal_2: "sequence" is goal_0
# then goal_1, "between" the midpoint of goal_0 and goal_1 (0.57 m from the start, 0.57 m from
# each, so it overlaps neither).
REACH_TRANSFER = TransferSuite(
    name="reach_transfer",
    model_file=REACH.model_file,
    joints=REACH.joints,
    objects=REACH.objects,
    target=REACH.target,
    goals=(*REACH.goals, _midpoint(0, 1)),
    goal_radius=REACH.goal_radius,
    episode_steps=REACH.episode_steps,
    control_period=REACH.control_period,
    robot_start=REACH.robot_start,
    start_noise=REACH.start_noise,
    sequence=(0, 1),
)
