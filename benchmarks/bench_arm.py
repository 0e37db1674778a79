"""Speed of the Jaco arm scene (tasks/jaco/): raw physics steps/s and SuiteEnv steps/s.

    python benchmarks/bench_arm.py --out benchmarks/results_arm.json

Per actuator interface ("jaco": torques, "jaco_velocity": velocities): MuJoCo physics steps/s of
the scene's model under random commands (and the real-time factor that gives), the observer's
builds/s (forward kinematics included), and SuiteEnv steps/s with random actions, resets
included (one step = one 0.05 s control period = 25 physics steps). The point mass's push env is
measured in the same run as the reference the committed training figures were made with.
Each rate is the best of five windows; absolute rates depend on the CPU and on what else runs
on it (the load average is recorded); the ratios are what carries over.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import mujoco
import numpy as np

from skill_embedding_ros.provenance import git_commit, machine
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.registry import get_suite


def _rate(fn, seconds: float, windows: int = 5) -> float:
    """Calls of fn per second, after one warm-up call: the best of `windows` equal windows
    (like timeit's minimum: on a shared machine the least disturbed window is the code's)."""
    fn()
    best = 0.0
    for _ in range(windows):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / windows:
            fn()
            count += 1
        best = max(best, count / (time.perf_counter() - start))
    return best


def bench_physics(name: str, seconds: float) -> dict:
    """mj_step/s with a random command held for each control period's worth of steps."""
    suite = get_suite(name)
    scene = suite.make_scene()
    scene.reset(np.random.default_rng(0))
    rng = np.random.default_rng(1)

    def period():
        scene.data.ctrl[:] = suite.command(rng.uniform(-1, 1, suite.action_dim))
        mujoco.mj_step(scene.model, scene.data, scene.substeps)

    steps = _rate(period, seconds) * scene.substeps
    return {
        f"{name}_mj_steps_per_s": round(steps),
        f"{name}_realtime_factor": round(steps * scene.model.opt.timestep, 1),
    }


def bench_observer(name: str, seconds: float) -> dict:
    suite = get_suite(name)
    scene, observer = suite.make_scene(), suite.observer()
    scene.reset(np.random.default_rng(0))
    q, v, poses = scene.joint_positions(), scene.joint_velocities(), scene.object_poses()
    tick = iter(range(1, 10**12))
    rate = _rate(lambda: observer(q, v, poses, next(tick) * 50_000_000), seconds)
    return {f"{name}_observer_builds_per_s": round(rate)}


def bench_env(name: str, task: str, seconds: float) -> dict:
    env = SuiteEnv(name, [task], seed=0)
    env.reset(seed=0)
    rng = np.random.default_rng(2)
    dim = env.suite.action_dim

    def step():
        *_, truncated, _ = env.step(rng.uniform(-1, 1, dim).astype(np.float32))
        if truncated:
            env.reset()

    return {f"{name}_env_steps_per_s": round(_rate(step, seconds))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results_arm.json")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    args = parser.parse_args()
    results = {
        "command": "python " + shlex.join(sys.argv),
        "commit": git_commit(),
        "machine": machine(),
        "mujoco": mujoco.__version__,
        # What else ran: the rates scale with the share of a core this run got.
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    start = time.perf_counter()
    for name in ("jaco", "jaco_velocity"):
        results.update(bench_physics(name, args.seconds))
        results.update(bench_observer(name, args.seconds))
        results.update(bench_env(name, "push", args.seconds))
    results.update(bench_env("push", "any", args.seconds))  # the point mass, for reference
    results["jaco_env_vs_point_mass"] = round(
        results["jaco_env_steps_per_s"] / results["push_env_steps_per_s"], 3
    )
    results["wall_s"] = round(time.perf_counter() - start, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
