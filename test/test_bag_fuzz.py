"""Property tests: truncated, corrupted and garbage-filled bags never crash the ingester and
never damage an existing store; whatever they still yield is made of valid episodes only."""

from __future__ import annotations

import functools
import hashlib
import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import StoragePlugin

from skill_embedding_ros.data import replay_store as rs
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.assembly import episode_records
from skill_embedding_ros.data.bags.align import AlignConfig
from skill_embedding_ros.data.bags.ingest import IngestOptions, ingest
from skill_embedding_ros.tasks.point_mass.demos import reach_goal
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.testing.bags import (
    TS,
    robot_demos,
    robot_messages,
    write_messages,
    write_record_bag,
)
from skill_embedding_ros.testing.episodes import assert_same_episode, episode_uid, random_episode


def fuzz(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


SUITE = get_suite("push")
ALIGN = AlignConfig(suite=SUITE, tasks=("any",), z_dim=2, task="any")


@functools.cache
def _sources() -> dict[str, tuple[str, bytes]]:
    """One small bag per storage format, as (file name, bytes)."""
    tmp = Path(tempfile.mkdtemp())
    episodes = [random_episode(uid) for uid in range(6)]
    write_record_bag(tmp / "mcap", episodes, compress=True)
    write_record_bag(tmp / "db3", episodes, storage="sqlite3")
    msgdef, md5 = TS.generate_msgdef(sr.MSGTYPE, ros_version=1)
    with Ros1Writer(tmp / "old.bag") as bag:
        conn = bag.add_connection("/actor_0/step_records", sr.MSGTYPE, msgdef=msgdef, md5sum=md5)
        for i, episode in enumerate(episodes):
            stamps = np.arange(len(episode) + 1) * 10**8 + i * 10**10
            for k, record in enumerate(episode_records(episode, "/actor_0", i, stamps)):
                raw = TS.cdr_to_ros1(sr.encode_cdr(record), sr.MSGTYPE)
                bag.write(conn, int(stamps[k]) + 10**9, bytes(raw))
    write_messages(
        tmp / "robot", robot_messages(SUITE, robot_demos(SUITE, 2, reach_goal(SUITE, 0)))
    )
    out = {
        "mcap": ("records.mcap", next((tmp / "mcap").glob("*.mcap")).read_bytes()),
        "db3": ("records.db3", next((tmp / "db3").glob("*.db3")).read_bytes()),
        "ros1": ("records.bag", (tmp / "old.bag").read_bytes()),
        "robot": ("robot.mcap", next((tmp / "robot").glob("*.mcap")).read_bytes()),
    }
    shutil.rmtree(tmp)
    return out


@functools.cache
def _store_template() -> Path:
    """A store that already holds one chunk (episode 100)."""
    tmp = Path(tempfile.mkdtemp())
    write_record_bag(tmp / "first", [random_episode(100)])
    ingest([tmp / "first"], tmp / "store", IngestOptions(), report=lambda s: None)
    return tmp / "store"


def _snapshot(store: Path) -> dict[str, str]:
    return {
        str(f.relative_to(store)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(store.rglob("*"))
        if f.is_file() and f.name != ".lock"
    }


def _check(kind: str, data: bytes, exact: bool = True) -> None:
    """Ingest `data` as a bag into a store that already holds a chunk: no exception, the old
    chunk untouched, and anything stored a whole, valid episode (with `exact`: one of the
    original bag's; a flipped byte inside a chunk without a checksum can change a value)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        shutil.copytree(_store_template(), store)
        before = _snapshot(store)
        bag = Path(tmp) / _sources()[kind][0]
        bag.write_bytes(data)
        code, [summary] = ingest([bag], store, IngestOptions(align=ALIGN), report=lambda s: None)
        assert summary.status in ("stored", "nothing usable", "unreadable"), summary.text()
        assert (code == 0) == (summary.status == "stored")
        after = _snapshot(store)
        assert {k: v for k, v in after.items() if k in before} == before
        new = set(after) - set(before)
        assert bool(new) == (summary.status == "stored")
        assert not (store / ".incoming").exists() or not any((store / ".incoming").iterdir())
        episodes = rs.StoreReader(store).new_episodes()
        assert episode_uid(episodes[0]) == 100
        for episode in episodes[1:]:
            episode.validate()
            if kind == "robot":
                assert np.isnan(episode.log_b_a).all() and np.isfinite(episode.obs).all()
            elif exact:
                assert_same_episode(episode, random_episode(episode_uid(episode)))


@fuzz(100)
@given(
    kind=st.sampled_from(["mcap", "db3", "ros1", "robot"]),
    fraction=st.floats(0.0, 1.0, exclude_max=True),
)
# A sqlite3 file cut inside its last pages: SQLite read them as zeros, without an error.
@example(kind="db3", fraction=0.998046875)
def test_truncated_bags(kind, fraction):
    data = _sources()[kind][1]
    _check(kind, data[: int(len(data) * fraction)])


@fuzz(100)
@given(
    kind=st.sampled_from(["mcap", "db3", "ros1", "robot"]),
    flips=st.lists(
        st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    ),
)
# A flipped byte of the sqlite3 index gave a connection a NULL topic: rosbags passed it on.
@example(kind="db3", flips=[(0.28094517421879184, 128)])
def test_corrupted_bags(kind, flips):
    data = bytearray(_sources()[kind][1])
    for where, value in flips:
        data[int(where * len(data))] = value
    _check(kind, bytes(data), exact=False)


@fuzz(50)
@given(st.binary(max_size=300))
def test_garbage_files(data):
    _check("mcap", data)
    _check("mcap", b"\x89MCAP0\r\n" + data)


@fuzz(40)
@given(
    garbage=st.lists(
        st.one_of(
            st.binary(max_size=80),
            # Closing records of the wrong observation size (4 values would be a well-formed
            # closing record, which rightly ends the episode it lands in).
            st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30).filter(
                lambda values: len(values) != 4
            ),
        ),
        max_size=12,
    ),
    positions=st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=12, max_size=12),
)
def test_garbage_records_between_good_ones(garbage, positions):
    """Records that are not records, or records of the wrong shape, amid good ones: counted,
    dropped with the episodes they break, never stored."""
    episodes = [random_episode(uid) for uid in range(4)]
    stream = []
    for i, episode in enumerate(episodes):
        stamps = np.arange(len(episode) + 1) * 10**8 + i * 10**10
        stream += [sr.encode_cdr(r) for r in episode_records(episode, "/a", i, stamps)]
    for item, where in zip(garbage, positions, strict=False):
        if isinstance(item, list):
            record = sr.closing_record(0, 0, 1, 0, np.zeros(4), 2, 3)
            record.obs = np.asarray(item, np.float32)
            item = sr.encode_cdr(record)
        stream.insert(int(where * len(stream)), item)
    with tempfile.TemporaryDirectory() as tmp:
        with Writer(Path(tmp) / "bag", version=9, storage_plugin=StoragePlugin.MCAP) as bag:
            conn = bag.add_connection("/a/step_records", sr.MSGTYPE, typestore=TS)
            for t, raw in enumerate(stream):
                bag.write(conn, t + 1, raw)
        _check("mcap", next((Path(tmp) / "bag").glob("*.mcap")).read_bytes())
