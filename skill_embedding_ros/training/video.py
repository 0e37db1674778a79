"""Videos of the learned skills: per task, the first few of the evaluation's own episodes side by
side, rendered offscreen at every step (tasks/render.py) into one mp4.

The episodes are run again with the evaluation's seeds (the agent made with `(episodes, seed +
1000 t)`, env i seeded `seed + 1000 t + i`, as `evaluate_agent` does), so the video shows the
very episodes the report counted: the same starts, the same z ~ p(z|t), the same mean actions.
Re-simulating from the recorded observations is not possible in general (an observation is not
a full simulator state), so the episodes are simulated again rather than replayed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from skill_embedding_ros.tasks.render import (
    Mp4Writer,
    SceneRenderer,
    caption,
    scene_focus,
    suite_camera,
    suite_markers,
    tile,
)
from skill_embedding_ros.tasks.suite import TaskSuite
from skill_embedding_ros.training.rollout import (
    EVAL_SEED,
    MakeAgent,
    Rollouts,
    nets_agent,
    rollout_agent,
)

SHOWN = 3
"""Episodes per task in a video (side by side): enough to see whether z picks different
solutions, small enough to follow."""
COLUMNS = 3
"""Episodes per row of the video's grid."""


def _z_text(z: np.ndarray) -> str:
    return "z " + " ".join(f"{v:.3g}" for v in np.asarray(z).ravel()) if np.size(z) else ""


class _TaskFilm:
    """Watches one task's rollout (rollout.Watch) and writes the first `shown` episodes' states
    as tiles of one frame per step, each captioned with its episode, z and the solution its
    state lies in."""

    def __init__(self, suite, task, writer, shown, width, height, shadows):
        self.suite, self.task, self.writer, self.shown = suite, task, writer, shown
        self.size, self.shadows = (width, height), shadows
        self.renderers: list[SceneRenderer] = []
        self.first: list[np.ndarray] | None = None
        self.last_obs: np.ndarray | None = None

    def _pictures(self, envs) -> list[np.ndarray]:
        pictures = []
        for i, env in enumerate(envs[: self.shown]):
            scene = env.robot.scene
            if i == len(self.renderers) or self.renderers[i].model is not scene.model:
                renderer = SceneRenderer(
                    scene.model,
                    *self.size,
                    suite_camera(self.suite),
                    suite_markers(self.suite, self.task),
                    self.shadows,
                )
                renderer.aim(scene_focus(scene))  # the start: the camera stays put after it
                if i == len(self.renderers):
                    self.renderers.append(renderer)
                else:
                    self.renderers[i].close()
                    self.renderers[i] = renderer
            pictures.append(self.renderers[i](scene.data))
        return pictures

    def __call__(self, envs, obs: np.ndarray, decision) -> None:
        pictures = self._pictures(envs)
        if decision is None:  # the starts: written with the first step, once z is drawn
            self.first, self.last_obs = pictures, obs
            return
        z = np.asarray(decision.z)
        if self.first is not None:
            self._write(self.first, z, np.full(len(obs), -1))
            self.first = None
        visits = self.suite.visits(self.task, np.stack([self.last_obs, obs], 1))[:, 0]
        self._write(pictures, z, visits)
        self.last_obs = obs

    def _write(self, pictures, z, visits) -> None:
        for i, picture in enumerate(pictures):
            caption(picture, f"{self.task}  episode {i + 1}")
            caption(picture, _z_text(z[i]), 1)
            if visits[i] >= 0:
                caption(picture, f"in solution {visits[i]}", 2)
        self.writer.write(tile(pictures, min(COLUMNS, len(pictures))))

    def close(self) -> None:
        for renderer in self.renderers:
            renderer.close()


def video_name(task_id: int, task: str) -> str:
    """t<id>_<task>.mp4 (the report's label; a run may train one task twice)."""
    return f"t{task_id}_{re.sub(r'[^A-Za-z0-9_.-]', '_', task)}.mp4"


def record_task(
    make_agent: MakeAgent,
    suite: TaskSuite,
    tasks: list[str],
    task_id: int,
    path: str | Path,
    episodes: int,
    seed: int = EVAL_SEED,
    shown: int = SHOWN,
    width: int = 320,
    height: int = 240,
    fps: float | None = None,
    shadows: bool = False,
) -> Rollouts:
    """Film task `task_id`'s evaluation episodes (`episodes`, seeded as `evaluate_agent` seeds
    them from `seed`), the first `shown` side by side, each `width` x `height` px, into `path`
    at `fps` frames per second (default: real time, one frame per control period). Returns the
    rollouts, the same as the evaluation's."""
    if not 1 <= shown <= episodes:
        raise ValueError(f"shown must be in 1..{episodes} (the episodes run), got {shown}")
    task_seed = seed + 1000 * task_id
    with Mp4Writer(path, fps or 1.0 / suite.control_period) as writer:
        film = _TaskFilm(suite, tasks[task_id], writer, shown, width, height, shadows)
        try:
            agent = make_agent(episodes, task_seed)
            return rollout_agent(agent, suite, tasks, task_id, episodes, task_seed, watch=film)
        finally:
            film.close()


def record_videos(
    make_agent: MakeAgent,
    suite: TaskSuite,
    tasks: list[str],
    out_dir: str | Path,
    episodes: int,
    seed: int = EVAL_SEED,
    shown: int = SHOWN,
    **picture,
) -> list[Path]:
    """`record_task` for every task into out_dir/t<id>_<task>.mp4; the paths written.
    `picture`: width, height (px), fps, shadows, as `record_task` takes them."""
    paths = []
    for t, task in enumerate(tasks):
        path = Path(out_dir) / video_name(t, task)
        record_task(make_agent, suite, tasks, t, path, episodes, seed, shown, **picture)
        paths.append(path)
    return paths


def skill_videos(
    nets, suite, tasks, out_dir, episodes: int, shown: int = SHOWN, z_hold: int = 0
) -> list[Path]:
    """`record_videos` of a run's networks, as `evaluate` runs them (z ~ p(z|t), mean actions,
    z redrawn every `z_hold` steps when set)."""

    def make(slots: int, seed: int):
        return nets_agent(nets, slots, seed, z_hold)

    return record_videos(make, suite, tasks, out_dir, episodes, shown=shown)
