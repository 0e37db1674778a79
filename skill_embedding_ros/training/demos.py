"""Demonstrations that fill replay before training (`train.demos`): the episodes of a replay
store, e.g. a scripted controller's bags ingested with `skill-embedding ingest --into STORE`,
checked against the run's shapes and tasks before anything is trained or written.

They enter replay as any episode does. An ingested robot-topic episode has an unknown behaviour
log-probability (NaN), so Retrace cuts its traces (c = 0): its actions teach the critic through
one-step targets and reach the policy only through the critic, never by imitation.
"""

from __future__ import annotations

from pathlib import Path

from skill_embedding_ros.data.replay import Episode
from skill_embedding_ros.data.store_reader import StoreReader


def demo_episodes(
    store: Path | str, obs_dim: int, action_dim: int, z_dim: int, tasks: tuple[str, ...]
) -> list[Episode]:
    """Every whole episode of `store`, oldest first; ValueError naming the first one that does
    not fit the run (observation, action or z width, a task id it does not have) or an
    unreadable chunk."""
    reader = StoreReader(store)
    episodes = reader.new_episodes()
    if reader.unreadable:
        raise ValueError(f"train.demos: {store}: unreadable chunk {reader.unreadable[0]}")
    if not episodes:
        raise ValueError(f"train.demos: {store} holds no whole episode")
    want = {"observations": obs_dim, "actions": action_dim, "z": z_dim}
    for k, episode in enumerate(episodes):
        got = {
            "observations": episode.obs.shape[1],
            "actions": episode.action.shape[1],
            "z": episode.z.shape[1],
        }
        for what, width in got.items():
            if width != want[what]:
                raise ValueError(
                    f"train.demos: episode {k} of {store} has {width}-wide {what}, the run "
                    f"{want[what]} (ingest it with this run's config: --config)"
                )
        if not 0 <= episode.task < len(tasks):
            raise ValueError(
                f"train.demos: episode {k} of {store} has task id {episode.task}; the run's "
                f"tasks are {list(tasks)} (ids 0..{len(tasks) - 1})"
            )
    return episodes
