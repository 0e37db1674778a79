"""scripts/store_interventions.py: the intervention flags of a store's episodes, counted."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from skill_embedding_ros.data import replay_store as rs
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.assembly import episode_records
from skill_embedding_ros.testing.episodes import random_episode
from test.script_modules import load_script

script = load_script("store_interventions")


def test_interventions_are_counted_in_all_and_by_step_index(tmp_path, monkeypatch, capsys):
    writer = rs.StoreWriter(tmp_path / "store")
    taken = [[1, 2], [], [1, 5]]  # step indices where someone else's command went out
    for uid, steps in enumerate(taken):
        episode = random_episode(uid, length=8)
        episode.intervention[:] = False
        episode.intervention[steps] = True
        stamps = np.arange(9) * 10**8 + uid * 10**10
        for record in episode_records(episode, "/actor_0", uid, stamps):
            writer.add("/actor_0/step_records", sr.encode_cdr(record), int(record.stamp_ns))
    writer.close()
    monkeypatch.setattr(sys, "argv", ["store_interventions.py", str(tmp_path / "store")])
    script.main()
    out = capsys.readouterr().out
    assert "3 episodes, 24 steps, 4 interventions (16.7%); episodes with one: 2" in out
    assert "by step index (first 15): [0, 2, 1, 0, 0, 1, 0, 0]" in out


def test_a_path_that_is_no_store_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["store_interventions.py", str(tmp_path / "nothing")])
    with pytest.raises(SystemExit, match="is not a directory"):
        script.main()
