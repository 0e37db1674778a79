"""Damaged and stray entries in a replay store (ROS-free): the writer, ingest and the learner's
reader agree on what a chunk is (one check), skip anything else with one message each, never
crash, and number new chunks above every name that looks like a chunk, so a live reader sees
them. The recorder node on such a store: test/test_replay_recorder_ros.py."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from skill_embedding_ros.data import replay_store as rs
from skill_embedding_ros.data.bags.ingest import IngestOptions, ingest
from skill_embedding_ros.testing.bags import write_record_bag
from skill_embedding_ros.testing.episodes import assert_all_expected, episode_uid, random_episode
from test.test_replay_store import _interleaved


def _write(store: Path, uids) -> rs.ChunkInfo:
    writer = rs.StoreWriter(store)
    for topic, raw in _interleaved(list(uids)):
        writer.add(topic, raw, time.time_ns())
    info = writer.flush()
    writer.close()
    return info


def _copy_of_chunk(store: Path, name: str) -> Path:
    entry = store / name
    shutil.copytree(store / "chunk_000000", entry)
    return entry


def _cut_metadata(store: Path, name: str) -> None:
    meta = _copy_of_chunk(store, name) / "metadata.yaml"
    meta.write_bytes(meta.read_bytes()[: meta.stat().st_size // 2])


def _garbage_metadata(store: Path, name: str) -> None:
    (_copy_of_chunk(store, name) / "metadata.yaml").write_bytes(b"\x00\xff{{: [not yaml\n")


def _cut_mcap(store: Path, name: str) -> None:
    mcap = next(_copy_of_chunk(store, name).glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[:-100])


def _stray_file(store: Path, name: str) -> None:
    (store / name).write_text("not a chunk")


def _stray_dir(store: Path, name: str) -> None:
    (store / name).mkdir()
    (store / name / "notes.txt").write_text("not a chunk")


def _empty_dir(store: Path, name: str) -> None:
    (store / name).mkdir()


DAMAGE = {
    "cut metadata.yaml": (_cut_metadata, "metadata.yaml is cut off"),
    "garbage metadata.yaml": (_garbage_metadata, "not YAML"),
    "cut mcap": (_cut_mcap, "is cut off or not MCAP"),
    "stray file": (_stray_file, "a file, not a directory"),
    "stray directory": (_stray_dir, "no metadata.yaml"),
    "empty directory": (_empty_dir, "no metadata.yaml"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_entry_is_skipped_by_all_and_numbering_goes_past_it(tmp_path, kind):
    damage, why = DAMAGE[kind]
    store = tmp_path / "store"
    _write(store, [0, 1])
    live = rs.StoreReader(store)  # a learner reading all along
    assert sorted(episode_uid(e) for e in live.new_episodes()) == [0, 1]

    damage(store, "chunk_000005")  # numbered above what the reader has passed
    assert live.new_episodes() == []
    assert len(live.unreadable) == 1 and live.unreadable[0].startswith("chunk_000005: ")
    assert why in live.unreadable[0], live.unreadable

    # The writer (the recorder's, after a restart) opens it, says so once, and goes on
    # above it: the live reader, whose mark passed chunk 5, gets the new episodes.
    writer = rs.StoreWriter(store)
    assert len(writer.skipped) == 1 and writer.skipped[0].startswith("chunk_000005 is not a")
    assert why in writer.skipped[0] and "move it out of the store" in writer.skipped[0]
    for topic, raw in _interleaved([2, 3]):
        writer.add(topic, raw, time.time_ns())
    assert writer.flush().number == 6
    # A stray that appears while the writer runs is numbered past as well.
    damage(store, "chunk_000009")
    for topic, raw in _interleaved([4]):
        writer.add(topic, raw, time.time_ns())
    assert writer.flush().number == 10
    writer.close()
    got = live.new_episodes()
    assert sorted(episode_uid(e) for e in got) == [2, 3, 4]
    assert [u.split(":")[0] for u in live.unreadable] == ["chunk_000005", "chunk_000009"]

    # Ingest into the same store: a warning per skipped entry, no crash, the next number.
    write_record_bag(tmp_path / "bag", [random_episode(uid) for uid in range(20, 23)])
    warnings = []
    code, [summary] = ingest(
        [tmp_path / "bag"], store, IngestOptions(), report=lambda s: None, warn=warnings.append
    )
    assert code == 0 and summary.chunk == "chunk_000011", summary.text()
    assert [w.split(" ")[0] for w in warnings] == ["chunk_000005", "chunk_000009"]

    # A fresh reader (a learner restarting) reads every readable chunk and nothing else.
    fresh = rs.StoreReader(store)
    episodes = fresh.new_episodes()
    assert sorted(episode_uid(e) for e in episodes) == [0, 1, 2, 3, 4, 20, 21, 22]
    assert_all_expected(episodes)
    assert [c.number for c in rs.list_chunks(store)] == [0, 6, 10, 11]
    assert len(fresh.unreadable) == 2


def test_every_cut_of_a_metadata_file_is_caught(tmp_path):
    """A metadata.yaml cut at any byte is rejected by the one check (its last key, version,
    is gone or incomplete), so neither side ever takes a cut file for a chunk."""
    store = tmp_path / "store"
    _write(store, [0, 1])
    meta = store / "chunk_000000" / "metadata.yaml"
    whole = meta.read_bytes()
    assert rs.inspect_chunk(meta.parent).episodes == 2
    for cut in range(len(whole) - 1):  # all but the final newline
        meta.write_bytes(whole[:cut])
        with pytest.raises(rs.ChunkError):
            rs.inspect_chunk(meta.parent)
    meta.write_bytes(whole)
    assert rs.inspect_chunk(meta.parent).episodes == 2


def test_a_stray_wal_chunk_name_does_not_swallow_the_wal(tmp_path):
    """A crash left episodes in wal_000001.log, and someone put an unreadable entry named
    chunk_000001 in the store: the episodes are recovered into a new chunk above it, not
    dropped as if chunk 1 held them."""
    store = tmp_path / "store"
    _write(store, [0])
    writer = rs.StoreWriter(store)
    for topic, raw in _interleaved([1, 2]):
        writer.add(topic, raw, time.time_ns())
    writer._wal._file.close()  # what a kill -9 leaves
    writer._lock.close()
    _empty_dir(store, "chunk_000001")
    writer = rs.StoreWriter(store)
    assert writer.recovered == 2
    writer.close()
    assert [c.number for c in rs.list_chunks(store)] == [0, 2]
    assert sorted(episode_uid(e) for e in rs.StoreReader(store).new_episodes()) == [0, 1, 2]
