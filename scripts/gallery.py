"""A picture of every task of each suite: docs/gallery/<suite>.png, one tile per task (the state
after a few uniformly random actions from the task's start), rendered offscreen.

MUJOCO_GL=osmesa python scripts/gallery.py [SUITE ...] [--out docs/gallery] [--steps 10]
(needs libosmesa6: apt-get install -y libosmesa6; MUJOCO_GL is set to osmesa when unset).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from skill_embedding_ros.tasks.render import request_offscreen

request_offscreen()  # before anything imports mujoco: it picks its OpenGL backend once

import cv2  # noqa: E402 (after the backend is chosen)
import numpy as np  # noqa: E402

from skill_embedding_ros.tasks.env import SuiteEnv  # noqa: E402
from skill_embedding_ros.tasks.registry import BUILT_IN, get_suite  # noqa: E402
from skill_embedding_ros.tasks.render import (  # noqa: E402
    SceneRenderer,
    caption,
    check_rendering,
    scene_focus,
    suite_camera,
    suite_markers,
    tile,
)

COLUMNS = 3


def task_picture(suite, task: str, steps: int, seed: int, width: int, height: int) -> np.ndarray:
    """`task`'s scene after `steps` uniformly random actions from a seeded start, captioned."""
    env = SuiteEnv(suite, list(suite.tasks), seed=seed)
    env.reset(options={"task": suite.tasks.index(task)})
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        env.step(rng.uniform(-1, 1, suite.action_dim).astype(np.float32))
    scene = env.robot.scene
    markers = suite_markers(suite, task)
    # Shadows cost 10-20 times a frame under software OpenGL; a still picture can afford them.
    with SceneRenderer(scene.model, width, height, suite_camera(suite), markers, True) as render:
        render.aim(scene_focus(scene))
        return caption(render(scene.data), f"{suite.name}: {task}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", help="suite names (default: the built-in ones)")
    parser.add_argument("--out", default="docs/gallery", help="folder of the PNGs")
    parser.add_argument("--steps", type=int, default=10, help="random actions before the picture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="256x192", help="each tile, WIDTHxHEIGHT pixels")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    try:
        check_rendering()
    except RuntimeError as err:
        raise SystemExit(f"error: {err}") from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.suites or sorted(BUILT_IN):
        suite = get_suite(name)
        tiles = [task_picture(suite, t, args.steps, args.seed, width, height) for t in suite.tasks]
        grid = tile(tiles, min(COLUMNS, len(tiles)))
        path = out / f"{name}.png"
        cv2.imwrite(str(path), grid[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"{path}: {len(tiles)} task(s), {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
