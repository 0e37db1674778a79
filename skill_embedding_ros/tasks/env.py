"""Any task suite as a Gymnasium env: its scene, one task per episode (ROS-free).

Training in process and the ROS 2 graph simulate the same scene and build observations with the
same observer from the same robot-like read-out (joint states by name, object poses), so a policy
sees identical vectors on both paths.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from skill_embedding_ros.robots.sim import SimRobot
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.tasks.suite import TaskSuite


class SuiteEnv(gym.Env):
    """A suite's scene with one of `tasks` active per episode.

    Actions are in [-1, 1] per commanded joint (the suite scales them to physical commands). The
    task is an index into `tasks`, chosen at reset with `options={"task": i}` (default: uniformly
    at random). `info["executed"]` is the action the scene actually applied, as an action.
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (Gymnasium's convention)

    def __init__(self, suite: str | TaskSuite, tasks: list[str], seed: int | None = None):
        self.suite = get_suite(suite) if isinstance(suite, str) else suite
        for t in tasks:
            self.suite.check_task(t)
        self.tasks = list(tasks)
        self.robot = SimRobot(self.suite.make_scene())
        self.observer = self.suite.observer()
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.suite.obs_dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.suite.action_dim,), np.float32)
        self.task = 0
        self.steps = 0
        self.np_random, _ = gym.utils.seeding.np_random(seed)

    def observe(self) -> np.ndarray:
        state = self.robot.read()
        return self.observer(state.positions, state.velocities, state.poses, state.stamp_ns)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        self.task = int(options.get("task", self.np_random.integers(len(self.tasks))))
        self.robot.reset(self.np_random, self.tasks[self.task])
        self.observer.reset()
        self.steps = 0
        return self.observe(), {"task": self.task}

    def step(self, action: np.ndarray):
        applied = self.robot.send(self.suite.command(action))
        self.steps += 1
        obs = self.observe()
        r = float(self.suite.reward(self.tasks[self.task], obs))
        truncated = self.steps >= self.suite.episode_steps
        return (
            obs,
            r,
            False,
            truncated,
            {"task": self.task, "executed": self.suite.action(applied)},
        )
