"""The point-mass scenes as a Gymnasium env (ROS-free; the sim bridge wraps the same model)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from skill_embedding_ros.envs.observations import build_observation
from skill_embedding_ros.envs.suites import Suite, get_suite, goal_index, reward


class PointMassEnv(gym.Env):
    """A suite's scene with one task active per episode.

    Actions are joint velocity commands in [-1, 1] m/s. The task is an index into `tasks`,
    chosen at reset with `options={"task": i}` (default: uniformly at random).
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (Gymnasium's convention)

    def __init__(self, suite: str | Suite, tasks: list[str], seed: int | None = None):
        self.suite = get_suite(suite) if isinstance(suite, str) else suite
        for t in tasks:
            self.suite.task_goals(t)  # raises on an unknown task name
        self.tasks = list(tasks)
        self.model = mujoco.MjModel.from_xml_path(str(self.suite.model_path))
        self.data = mujoco.MjData(self.model)
        self.substeps = round(self.suite.control_period / self.model.opt.timestep)
        self._qadr = {j: self.model.joint(j).qposadr[0] for j in self._all_joints()}
        self._vadr = {j: self.model.joint(j).dofadr[0] for j in self._all_joints()}
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.suite.obs_dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.suite.action_dim,), np.float32)
        self.task = 0
        self.steps = 0
        self.np_random, _ = gym.utils.seeding.np_random(seed)

    def _all_joints(self) -> list[str]:
        return list(self.suite.joints) + [f"{o}_{a}" for o in self.suite.objects for a in "xy"]

    def observe(self) -> np.ndarray:
        q = {j: self.data.qpos[a] for j, a in self._qadr.items()}
        v = {j: self.data.qvel[a] for j, a in self._vadr.items()}
        objects = {o: (q[f"{o}_x"], q[f"{o}_y"]) for o in self.suite.objects}
        return build_observation(self.suite.joints, self.suite.objects, q, v, objects)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        self.task = int(options.get("task", self.np_random.integers(len(self.tasks))))
        mujoco.mj_resetData(self.model, self.data)
        noise = self.suite.start_noise
        start = np.asarray(self.suite.robot_start) + self.np_random.uniform(-noise, noise, 2)
        for j, value in zip(self.suite.joints, start, strict=True):
            self.data.qpos[self._qadr[j]] = value
        for o in self.suite.objects:
            for a in "xy":
                self.data.qpos[self._qadr[f"{o}_{a}"]] = self.np_random.uniform(-noise, noise)
        mujoco.mj_forward(self.model, self.data)
        self.steps = 0
        return self.observe(), {"task": self.task}

    def step(self, action: np.ndarray):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (self.suite.action_dim,) or not np.all(np.isfinite(action)):
            raise ValueError(
                f"action must be {self.suite.action_dim} finite numbers, got {action}"
            )
        self.data.ctrl[:] = np.clip(action, -1.0, 1.0)
        mujoco.mj_step(self.model, self.data, self.substeps)
        self.steps += 1
        obs = self.observe()
        r = float(reward(self.suite, self.tasks[self.task], obs))
        truncated = self.steps >= self.suite.episode_steps
        return (
            obs,
            r,
            False,
            truncated,
            {"task": self.task, "goal": int(goal_index(self.suite, obs))},
        )
