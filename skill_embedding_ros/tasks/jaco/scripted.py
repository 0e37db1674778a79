"""A scripted controller for the Jaco's pre-training tasks: grasp the block, then carry it to the
goal and set it down (push, spring, wall, table-push) or hold it at the goal point (lift,
rail-lift) (ROS-free).

It shows each scene and reward is sound (a plain controller solves every task within an episode
by the strict success rule) and drives demonstrations for bags (testing/bags.py `robot_demos`).
It reads only the 34-D observation and the description's kinematics (ik.py), never the
simulator, so it drives a real arm the same way. A pick-and-place solves the pushing tasks too
(the tasks score where the block ends, not how it got there); it is the most reliable plain
script: a push along the bench loses the block whenever it turns.

Phases (each a Cartesian target for the grip site, a hand heading and a finger command):
above the block (the last stretch from above), down to it, close, and then either up, over the
goal, down, (open, unless the spring would pull the block back), away; or to the goal point,
held.
"""

from __future__ import annotations

import numpy as np

from skill_embedding_ros.tasks.jaco.ik import GripIK
from skill_embedding_ros.tasks.jaco.layouts import LIFTED, PRETRAINING
from skill_embedding_ros.tasks.jaco.observations import SLICES

UP = np.array([0.0, 0.0, 1.0])
GRASP_ABOVE = 0.02
"""m: the grip site this far above the block's centre when the fingers close (lower, the
fingertips catch the bench)."""
APPROACH = 0.06
"""m: the hand comes down onto the block (and the goal) from this far above it."""
LIFT = 0.035
"""m: the block is carried this far above the higher of where it started and where it goes."""
OVER_WALL = 0.1
"""m: the block's centre at least this high while carried in the wall task (its bottom 1.5 cm
over the 6 cm wall)."""
PRESHAPE = 0.6
"""rad: the fingers close this far on the way down (the fingertips still 5 cm from the grip
site, clear of the 2.5 cm half block), so closing on the block takes fewer steps."""
CLOSE_STEPS = 14
"""Control steps the fingers close before the hand lifts (from PRESHAPE they meet the block in
about 6; the rest builds the grip)."""
NEAR = 0.02
"""m: a waypoint counts as reached within this."""
CLEAR = 0.12
"""m: within this of the block (in the plane) the hand approaches from above, not from the side."""
SETTLE = 0.008
"""m: the lower waypoints (grasp, set down) within this."""


def block_yaw(obs: np.ndarray) -> float:
    """The block's heading (rad) about the vertical, from its quaternion (w, x, y, z)."""
    w, x, y, z = np.asarray(obs[SLICES["block_orientation"]], np.float64)
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


class ScriptedController:
    """obs -> action in [-1, 1] per joint for one task of a Jaco suite (velocity or torque).
    Stateful (its phase): `reset` at each episode start."""

    def __init__(self, suite, task: str, speed: float = 0.3):
        if task not in PRETRAINING:
            raise ValueError(f"the scripted controller solves {list(PRETRAINING)}, not {task!r}")
        from skill_embedding_ros.tasks.jaco.suites import _limits, _model

        self.suite, self.task, self.speed = suite, task, speed
        self.ik = GripIK(_model(suite.actuator))
        # Joint speed limits (rad/s) whatever the interface: the velocity servos' command range.
        self.speeds = np.asarray(_limits("velocity"))
        self.phases = (
            ("above", "down", "close", "goal")
            if task in LIFTED
            else ("above", "down", "close", "up", "over", "lower", "release", "away")
        )
        self.reset()

    def reset(self) -> None:
        self.phase, self.steps, self._yaw, self._grasped = 0, 0, None, None

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float64)
        ee, block = obs[SLICES["end_effector"]], obs[SLICES["block_position"]]
        goal = obs[SLICES["goal"]]
        if self._yaw is None:
            self._yaw = block_yaw(obs)
        name = self.phases[self.phase]
        target, close = self._target(name, block, goal, ee)
        if self._done(name, ee, target) and self.phase < len(self.phases) - 1:
            if name == "close":  # lift straight up from where the hand holds it
                self._grasped = np.r_[ee[:2], block[2]]
            self.phase, self.steps = self.phase + 1, 0
            name = self.phases[self.phase]
            target, close = self._target(name, block, goal, ee)
        self.steps += 1
        return self._command(obs, name, target, close, self._yaw)

    def _command(self, obs, name: str, target, close: bool, yaw: float) -> np.ndarray:
        """The joint command that moves the grip site toward `target` with the hand at `yaw`,
        the fingers closing (`close`), preshaping (on the way to a grasp) or opening."""
        arm = self.ik.velocities(obs[SLICES["arm_angle"]], target, yaw, self.speed)
        limits = np.asarray(self.suite.limits)
        speed = self.speeds
        # Scale the whole arm move down together, so the hand keeps its Cartesian direction.
        arm = arm / max(1.0, np.max(np.abs(arm) / speed[:6]))
        fingers = obs[SLICES["finger_angle"]]
        if close:
            hand = np.full(3, speed[6])
        elif name in ("above", "down"):  # preshape: towards PRESHAPE, then hold
            hand = np.clip(5.0 * (PRESHAPE - fingers), -speed[6], speed[6])
        else:
            hand = np.full(3, -speed[6])
        velocity = np.r_[arm, hand]
        if self.suite.actuator == "velocity":
            return np.clip(velocity / limits, -1.0, 1.0)
        return np.clip(_torque(obs, velocity) / limits, -1.0, 1.0)

    def _target(self, name, block, goal, ee) -> tuple[np.ndarray, bool]:
        lifted = self.task in LIFTED
        grasp = block + GRASP_ABOVE * UP
        if name == "above":
            hover = grasp + APPROACH * UP
            if ee[2] < hover[2] - NEAR and NEAR < np.linalg.norm(hover[:2] - ee[:2]) < CLEAR:
                # Near the block, rise before crossing: a hand coming in low (a block up on the
                # platform) knocks it over the edge.
                return np.r_[ee[:2], hover[2]], False
            return hover, False
        if name == "down":
            return grasp, False
        if name == "close":
            return grasp, True
        if name == "goal":
            return goal + GRASP_ABOVE * UP, True
        height = max(self._grasped[2], goal[2]) + LIFT
        if self.task == "wall":
            height = max(height, OVER_WALL)
        height += GRASP_ABOVE
        carry, over = np.r_[self._grasped[:2], height], np.r_[goal[:2], height]
        if name == "up":
            return carry, True
        if name == "over":
            return over, True
        placed = goal + (GRASP_ABOVE + 0.003) * UP
        if name == "lower":
            return placed, True
        if name == "release":
            return placed, self.task == "spring" or lifted
        return placed + APPROACH * UP, self.task == "spring"  # away (spring: hold on)

    def _done(self, name, ee, target) -> bool:
        if name == "close":
            return self.steps >= CLOSE_STEPS
        if name == "release":
            return self.task != "spring" and self.steps >= CLOSE_STEPS // 2
        if name in ("down", "lower"):
            return bool(np.linalg.norm(ee - target) < SETTLE)
        return bool(np.linalg.norm(ee - target) < NEAR)


TORQUE_GAIN = np.array([40.0] * 3 + [10.0] * 3 + [2.0] * 3)
"""N·m s/rad: the torque interface tracks the same joint velocities with a proportional law
(gravity is compensated by the robot, docs/jaco.md), stiff enough to follow within a period and
soft enough to stay stable at 20 Hz."""


def _torque(obs: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    current = np.r_[obs[SLICES["arm_velocity"]], obs[SLICES["finger_velocity"]]]
    return TORQUE_GAIN * (velocity - current)


def run_episodes(
    suite, task: str, episodes: int, seed: int = 0, controller_class=ScriptedController
) -> np.ndarray:
    """A controller's `episodes` episodes of `task` in a SuiteEnv: obs [N, L+1, S]."""
    from skill_embedding_ros.tasks.env import SuiteEnv

    env, controller = SuiteEnv(suite, [task], seed=seed), controller_class(suite, task)
    out = []
    for _ in range(episodes):
        obs, _ = env.reset()
        controller.reset()
        episode = [obs]
        for _ in range(suite.episode_steps):
            obs, *_ = env.step(controller(obs).astype(np.float32))
            episode.append(obs)
        out.append(np.stack(episode))
    return np.stack(out)
