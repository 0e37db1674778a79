"""Offscreen pictures and videos (tasks/render.py, training/video.py).

MuJoCo picks its OpenGL backend when a process first imports it, and other tests of this
process import it without MUJOCO_GL, so anything that renders runs in a fresh interpreter with
MUJOCO_GL set. Where OSMesa is missing the rendering tests skip with the install line, unless
SKILL_EMBEDDING_RENDER_TESTS=required (.ci/run sets it) makes that a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from skill_embedding_ros.tasks.render import HOW_TO, write_mp4

UNAVAILABLE = 3  # the children's exit code for "this process cannot render"

_FILM = """
import json, sys
import numpy as np
from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.settings.base import from_dict
from skill_embedding_ros.settings.run import RunConfig
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.tasks.render import (
    RenderingUnavailable, SceneRenderer, check_rendering, suite_camera, suite_markers)
from skill_embedding_ros.training.evaluate import evaluate_agent
from skill_embedding_ros.training.rollout import nets_agent
from skill_embedding_ros.training.video import record_task

try:
    check_rendering()
except RenderingUnavailable as err:
    print(err)
    sys.exit(3)
out = sys.argv[1]
suite = get_suite("reach")
env = SuiteEnv(suite, ["any"], seed=0)
env.reset()
scene = env.robot.scene
with SceneRenderer(scene.model, 160, 120, suite_camera(suite), suite_markers(suite, "any")) as r:
    np.save(out + "/frame.npy", r(scene.data))
tasks = ["goal_0", "goal_1"]
agent = {"hidden": [8], "critic_hidden": [8]}
cfg = from_dict(RunConfig, {"agent": agent, "train": {"tasks": tasks}})
nets = build_networks(cfg)
make = lambda slots, seed: nets_agent(nets, slots, seed)
film = record_task(make, suite, tasks, 1, out + "/t1.mp4", 3, seed=7, shown=2, width=160,
                   height=120)
_, rollouts = evaluate_agent(make, suite, tasks, 3, seed=7)
same = bool(np.array_equal(film.obs, rollouts[1].obs) and np.array_equal(film.z, rollouts[1].z))
print(json.dumps({"same": same, "steps": suite.episode_steps}))
"""


def _python(code: str, *args: str, gl: str = "osmesa", **env: str):
    environ = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    environ |= {"MUJOCO_GL": gl, **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _rendered(child) -> str:
    """The child's stdout, or a skip (a failure where rendering is required) saying why not."""
    if child.returncode == UNAVAILABLE:
        if os.environ.get("SKILL_EMBEDDING_RENDER_TESTS") == "required":
            pytest.fail(child.stdout)
        pytest.skip(child.stdout.strip())
    assert child.returncode == 0, child.stderr[-3000:]
    return child.stdout


def test_point_mass_frame_and_a_film_of_the_evaluations_episodes(tmp_path):
    result = json.loads(_rendered(_python(_FILM, str(tmp_path))).splitlines()[-1])
    frame = np.load(tmp_path / "frame.npy")
    assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
    assert frame.std() > 20  # not blank: the arena, its regions and the mass
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 20
    video = cv2.VideoCapture(str(tmp_path / "t1.mp4"))
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = video.read()
    assert ok and frames == result["steps"] + 1  # the start, then one per control step
    assert first.shape == (120, 2 * 160, 3)  # two episodes side by side
    assert video.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)  # real time: 0.1 s per step
    # The film re-ran the evaluation's own episodes: same starts, same z, same paths.
    assert result["same"]


@pytest.mark.parametrize(
    ("gl", "env"),
    [
        ("disable", {}),  # what a plug-in sets while importing dm_control headless
        ("bogus", {}),  # mujoco refuses it at import
        ("osmesa", {"PYOPENGL_PLATFORM": "egl"}),  # OSMesa cannot load, as without libosmesa6
    ],
)
def test_rendering_unavailable_says_what_to_install_and_set(gl, env):
    child = _python(
        """
        from skill_embedding_ros.tasks.render import RenderingUnavailable, check_rendering
        try:
            check_rendering()
        except RenderingUnavailable as err:
            print(err)
        else:
            print("rendered")
        """,
        gl=gl,
        **env,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    assert HOW_TO in child.stdout and f"MUJOCO_GL={gl!r}" in child.stdout


def test_evaluate_video_refuses_before_evaluating_when_it_cannot_render(tmp_path):
    child = _python(
        """
        import sys
        from skill_embedding_ros.cli import main
        main(["evaluate", sys.argv[1], "--video"])
        """,
        str(tmp_path / "no_run"),
        gl="disable",
    )
    assert child.returncode == 1
    assert "error: --video: offscreen rendering is unavailable" in child.stderr
    assert "libosmesa6" in child.stderr and "no checkpoint" not in child.stderr


def test_mp4_round_trip_and_frame_checks(tmp_path):
    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(7)]
    assert write_mp4(frames, tmp_path / "a.mp4", fps=5.0) == 7
    video = cv2.VideoCapture(str(tmp_path / "a.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 7
    assert video.read()[1].shape == (48, 64, 3)
    with pytest.raises(ValueError, match="not"):
        write_mp4([frames[0], frames[0][:, :32]], tmp_path / "b.mp4", fps=5.0)
    with pytest.raises(ValueError, match="no frames"):
        write_mp4([], tmp_path / "c.mp4", fps=5.0)
    with pytest.raises(ValueError, match="fps"):
        write_mp4(frames, tmp_path / "d.mp4", fps=0)
