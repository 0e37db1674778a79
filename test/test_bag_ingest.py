"""Bag ingestion of per-step record topics (ROS-free): a bag rebuilds exactly the episodes the
live recorder would have stored, from every storage format and from an independent writer; each
bag is all or nothing and stored once; the command line reports per bag and exits non-zero where
nothing usable remains."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from mcap_ros2.writer import Writer as McapRos2Writer
from rosbags.rosbag1 import Writer as Ros1Writer

from skill_embedding_ros.data import replay_store as rs
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.assembly import episode_records
from skill_embedding_ros.data.bags.align import AlignConfig
from skill_embedding_ros.data.bags.ingest import IngestOptions, RecordPipeline, ingest
from skill_embedding_ros.ros.processes import REPO
from skill_embedding_ros.tasks.point_mass.demos import reach_goal
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.testing.bags import (
    TS,
    robot_demos,
    robot_messages,
    write_messages,
    write_record_bag,
)
from skill_embedding_ros.testing.episodes import assert_all_expected, episode_uid, random_episode

MULTIARRAY_MSGDEF = """MultiArrayLayout layout
float64[] data
================================================================================
MSG: std_msgs/MultiArrayLayout
MultiArrayDimension[] dim
uint32 data_offset
================================================================================
MSG: std_msgs/MultiArrayDimension
string label
uint32 size
uint32 stride
"""


def _ingest(bags, store, **kw):
    return ingest(bags, store, IngestOptions(**kw), report=lambda s: None)


def _stored(store) -> list:
    return rs.StoreReader(store).new_episodes()


def _live_recorder(store, bag) -> list:
    """What the replay recorder stores when it receives the bag's messages as they were logged."""
    writer = rs.StoreWriter(store)
    records = []
    from rosbags.highlevel import AnyReader

    with AnyReader([bag]) as reader:
        records = [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]
    for topic, t, raw in records:
        with contextlib.suppress(ValueError):  # malformed: the recorder counts and goes on
            writer.add(topic, raw, t)
    writer.close()
    return _stored(store)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_a_record_bag_rebuilds_the_recorders_episodes(tmp_path, storage):
    episodes = [random_episode(uid) for uid in range(8)]
    write_record_bag(tmp_path / "bag", episodes, storage)
    code, [summary] = _ingest([tmp_path / "bag"], tmp_path / "store")
    assert code == 0 and summary.status == "stored" and summary.kind == "records"
    assert (summary.episodes, summary.transitions) == (8, sum(len(e) for e in episodes))
    assert summary.messages_read == sum(len(e) + 1 for e in episodes) and summary.dropped == 0
    got = _stored(tmp_path / "store")
    assert_all_expected(got)
    assert sorted(episode_uid(e) for e in got) == list(range(8))
    live = _live_recorder(tmp_path / "live", tmp_path / "bag")
    assert [episode_uid(e) for e in got] == [
        episode_uid(e) for e in live
    ]  # same episodes, same order


def test_a_bag_is_stored_once_and_all_or_nothing(tmp_path, monkeypatch):
    write_record_bag(tmp_path / "bag", [random_episode(uid) for uid in range(4)])
    shutil.copytree(tmp_path / "bag", tmp_path / "copy")
    code, summaries = _ingest([tmp_path / "bag", tmp_path / "copy"], tmp_path / "store")
    assert code == 0
    assert [s.status for s in summaries] == ["stored", "already ingested"]
    assert summaries[1].chunk == summaries[0].chunk
    assert len(rs.list_chunks(tmp_path / "store")) == 1
    _, [forced] = _ingest([tmp_path / "copy"], tmp_path / "store", force=True)
    # --force replaces the bag's chunk: one copy of its episodes, never two.
    assert (forced.status, forced.chunk, forced.replaced) == (
        "stored",
        "chunk_000001",
        ["chunk_000000"],
    )
    assert "stored (chunk_000001, replacing chunk_000000)" in forced.text()
    assert [c.number for c in rs.list_chunks(tmp_path / "store")] == [1]
    assert sorted(episode_uid(e) for e in _stored(tmp_path / "store")) == [0, 1, 2, 3]

    # A bag that breaks half way (a damaged zstd chunk), or an ingestion interrupted half way,
    # leaves the store exactly as it was.
    before = {c.path.name: c.bytes for c in rs.list_chunks(tmp_path / "store")}
    broken = tmp_path / "broken"
    write_record_bag(broken, [random_episode(uid, 8) for uid in range(10, 700)], compress=True)
    mcap = next(broken.glob("*.mcap"))
    data = bytearray(mcap.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64
    mcap.write_bytes(bytes(data))
    code, [summary] = _ingest([broken], tmp_path / "store")
    assert code == 1 and summary.status == "unreadable", summary.text()
    assert 0 < summary.messages_read < 690 * 9 and "unreadable after" in summary.error
    assert {c.path.name: c.bytes for c in rs.list_chunks(tmp_path / "store")} == before

    calls = 0
    feed = RecordPipeline.feed

    def interrupted(self, *args):
        nonlocal calls
        calls += 1
        if calls == 100:
            raise KeyboardInterrupt
        return feed(self, *args)

    monkeypatch.setattr(RecordPipeline, "feed", interrupted)
    write_record_bag(tmp_path / "long", [random_episode(uid) for uid in range(50, 80)])
    with pytest.raises(KeyboardInterrupt):
        _ingest([tmp_path / "long"], tmp_path / "store")
    assert {c.path.name: c.bytes for c in rs.list_chunks(tmp_path / "store")} == before
    assert not any((tmp_path / "store" / ".incoming").iterdir())


def test_damaged_records_are_counted_and_complete_episodes_kept(tmp_path):
    episodes = [random_episode(uid, 6) for uid in range(6)]
    streams = []
    for i, episode in enumerate(episodes):
        stamps = np.arange(len(episode) + 1) * 10**8 + i * 10**10
        streams.append([sr.encode_cdr(r) for r in episode_records(episode, "/a", i, stamps)])
    del streams[1][3]  # a lost record: episode 1 has a gap
    streams[2].insert(2, streams[2][2])  # a duplicated record: episode 2 does not fit either
    streams[3] = streams[3][2:]  # the bag starts mid-episode 3: records without a start
    streams[4][1] = b"\x00\x01\x00\x00garbage"  # a malformed record in episode 4
    streams[5] = streams[5][:-1]  # episode 5 never closes
    with_nan = random_episode(100, 6)
    with_nan.obs[2, 1] = np.nan
    records = episode_records(with_nan, "/b", 0, np.arange(7) * 10**8)
    streams.append([sr.encode_cdr(r) for r in records])  # non-finite values
    from rosbags.rosbag2 import Writer

    with Writer(tmp_path / "bag", version=9) as bag:
        conns = {
            t: bag.add_connection(f"{t}/step_records", sr.MSGTYPE, typestore=TS)
            for t in ("/a", "/b")
        }
        t = 0
        for i, stream in enumerate(streams):
            for raw in stream:
                t += 1000
                bag.write(conns["/b" if i == 6 else "/a"], t, raw)
    code, [s] = _ingest([tmp_path / "bag"], tmp_path / "store")
    assert code == 0, s.text()
    assert [episode_uid(e) for e in _stored(tmp_path / "store")] == [0]
    # gaps: the lost, the duplicated and the malformed record each break their episode
    assert (s.episodes, s.gaps, s.duplicates, s.non_finite) == (1, 3, 1, 1), s.text()
    assert s.unmatched >= 2 and s.counts["malformed"] == 1
    assert s.counts["episodes_unfinished"] == 1 and s.counts["episodes_invalid"] == 1
    assert s.dropped == s.messages_read - 7
    text = s.text()
    for field, value in (("dropped", s.dropped), ("gaps", s.gaps), ("duplicates", s.duplicates)):
        assert f"{field} {value}" in text, text


def test_an_independent_writer_mcap_file_ingests(tmp_path):
    """A bare .mcap from the `mcap` / `mcap-ros2-support` packages (not rosbags): no
    metadata.yaml, its own CDR encoder, zstd chunks."""
    episodes = [random_episode(uid) for uid in range(5)]
    path = tmp_path / "other_team.mcap"
    with open(path, "wb") as f:
        writer = McapRos2Writer(f)
        schema = writer.register_msgdef(sr.MSGTYPE, MULTIARRAY_MSGDEF)
        t = 10**9
        for i, episode in enumerate(episodes):
            stamps = np.arange(len(episode) + 1) * 10**8 + i * 10**10
            for record in episode_records(episode, "/robot_7", i, stamps):
                layout, data = sr.encode(record)
                message = {
                    "layout": {
                        "dim": [{"label": n, "size": s, "stride": s} for n, s in layout],
                        "data_offset": 0,
                    },
                    "data": data.tolist(),
                }
                t += 10**6
                writer.write_message("/robot_7/step_records", schema, message, log_time=t)
        writer.finish()
    code, [summary] = _ingest([path], tmp_path / "store")
    assert code == 0, summary.text()
    got = _stored(tmp_path / "store")
    assert [episode_uid(e) for e in got] == list(range(5))
    assert_all_expected(got)


def test_a_ros1_bag_ingests(tmp_path):
    episodes = [random_episode(uid) for uid in range(3)]
    path = tmp_path / "old.bag"
    msgdef, md5 = TS.generate_msgdef(sr.MSGTYPE, ros_version=1)
    with Ros1Writer(path) as bag:
        conn = bag.add_connection("/actor_0/step_records", sr.MSGTYPE, msgdef=msgdef, md5sum=md5)
        t = 10**9
        for i, episode in enumerate(episodes):
            stamps = np.arange(len(episode) + 1) * 10**8 + i * 10**10
            for record in episode_records(episode, "/actor_0", i, stamps):
                t += 10**6
                bag.write(conn, t, bytes(TS.cdr_to_ros1(sr.encode_cdr(record), sr.MSGTYPE)))
    code, [summary] = _ingest([path], tmp_path / "store")
    assert code == 0, summary.text()
    assert_all_expected(_stored(tmp_path / "store"))
    assert len(_stored(tmp_path / "store")) == 3


def test_the_command_line(tmp_path):
    write_record_bag(tmp_path / "good", [random_episode(uid) for uid in range(3)])
    (tmp_path / "junk.mcap").write_bytes(b"\x89MCAP0\r\n" + b"\x00" * 100)

    def run(*args):
        cmd = [sys.executable, "-m", "skill_embedding_ros.cli", "ingest", "--quiet", *args]
        return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)

    store, summary = tmp_path / "store", tmp_path / "summary.json"
    done = run(str(tmp_path / "good"), "--into", str(store), "--summary", str(summary))
    assert done.returncode == 0, done.stderr
    assert "stored (chunk_000000)" in done.stdout and "3 episodes" in done.stdout
    assert json.loads(summary.read_text())[0]["episodes"] == 3

    bad = run(str(tmp_path / "junk.mcap"), str(tmp_path / "missing"), "--into", str(store))
    assert bad.returncode == 1
    assert "junk.mcap: unreadable" in bad.stdout and "missing: unreadable" in bad.stdout
    assert "no such bag" in bad.stdout

    robot = run(str(tmp_path / "good"), "--into", str(store), "--kind", "robot", "--task", "any")
    assert robot.returncode == 1 and "no joint_states topic" in robot.stdout

    holder = rs.StoreWriter(store)  # a running recorder holds the store
    try:
        busy = run(str(tmp_path / "good"), "--into", str(store))
    finally:
        holder.close()
    assert busy.returncode == 2 and "in use by another writer" in busy.stderr
    assert [c.number for c in rs.list_chunks(store)] == [0]


def test_a_re_ingest_with_other_options_is_reported_and_force_replaces(tmp_path, monkeypatch):
    """The fingerprint is the bag's bytes AND the options that shape its chunk: the same
    options find the chunk, others are reported (nothing stored, exit 1, what changed and
    what to do), and --force replaces the earlier chunk, also across a crash half way."""
    suite = get_suite("reach")
    write_messages(
        tmp_path / "demo", robot_messages(suite, robot_demos(suite, 3, reach_goal(suite, 1)))
    )
    store = tmp_path / "store"

    def run(force=False, label_source="", **kw):
        align = AlignConfig(suite=suite, tasks=("any", "goal_1"), z_dim=2, task="goal_1", **kw)
        label = (lambda episode: np.ones(2, np.float32)) if label_source else None
        options = IngestOptions(align=align, force=force, label=label, label_source=label_source)
        code, [summary] = ingest([tmp_path / "demo"], store, options, report=lambda s: None)
        return code, summary

    code, first = run()
    assert code == 0 and (first.status, first.chunk) == ("stored", "chunk_000000")
    code, again = run(tolerance=0.025)  # the default, spelled out: the same options
    assert code == 0 and (again.status, again.chunk) == ("already ingested", "chunk_000000")

    code, other = run(tolerance=0.01)
    assert code == 1 and other.status == "ingested with other options", other.text()
    assert "tolerance_s 0.025 -> 0.01" in other.error and "--force" in other.error
    assert [c.number for c in rs.list_chunks(store)] == [0]
    code, labelled = run(label_source="q_psi of checkpoint abc")
    assert code == 1 and "z '0' -> 'q_psi of checkpoint abc'" in labelled.error

    code, forced = run(force=True, tolerance=0.01)
    assert code == 0 and forced.replaced == ["chunk_000000"], forced.text()
    assert [c.number for c in rs.list_chunks(store)] == [1]
    assert len(_stored(store)) == 3  # one copy of the bag's 3 episodes
    code, again = run(tolerance=0.01)
    assert code == 0 and (again.status, again.chunk) == ("already ingested", "chunk_000001")

    # A crash after the new chunk landed, before the old one was deleted: the next writer to
    # open the store finishes the replacement.
    def crash(self, name):
        raise KeyboardInterrupt

    monkeypatch.setattr(rs.StoreWriter, "_delete", crash)
    with pytest.raises(KeyboardInterrupt):
        run(force=True)
    monkeypatch.undo()
    assert [c.number for c in rs.list_chunks(store)] == [1, 2]
    rs.StoreWriter(store).close()
    assert [c.number for c in rs.list_chunks(store)] == [2]
    assert len(_stored(store)) == 3
