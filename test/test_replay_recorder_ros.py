"""The replay recorder as a real process over DDS: a probe publishes two actors' per-step records;
the store must end up with exactly their complete episodes, also across a kill -9 and when the
recorder subscribes after the records went out (their publishers keep a history for it)."""

import signal
import time

import numpy as np
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader
from std_msgs.msg import Float64MultiArray

from skill_embedding_ros.data import replay_store as rs
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.assembly import episode_records
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import record_message
from skill_embedding_ros.ros.processes import Probe, fresh_domain, log_text, start_node, stop
from skill_embedding_ros.testing.episodes import assert_all_expected, episode_uid, random_episode
from test.test_store_damage import DAMAGE

ACTORS = (0, 1)


def _messages(uid: int, length: int | None = None) -> list[Float64MultiArray | bytes]:
    """Episode `uid` as actor uid % 2 publishes it, one message per record: as the CDR bytes a
    skill policy sends (even uids) or as message objects, as any other publisher may."""
    actor = f"/actor_{uid % 2}"
    encode = sr.encode_cdr if uid % 2 == 0 else record_message
    episode = random_episode(uid, length)
    return [encode(r) for r in episode_records(episode, actor, uid, np.arange(100) * 10**8)]


def test_a_records_bytes_are_the_message_rclpy_reads():
    """What lets a skill policy publish `encode_cdr`'s bytes in place of the message."""
    for uid, length in ((1, None), (2, 3)):
        for record in episode_records(random_episode(uid, length), "/a", uid, np.arange(100)):
            got = deserialize_message(sr.encode_cdr(record), Float64MultiArray)
            expected = record_message(record)
            assert got.layout == expected.layout
            np.testing.assert_array_equal(got.data, expected.data)  # NaN where NaN


class _Actors:
    """The probe's publishers on /actor_0/step_records and /actor_1/step_records, and the
    store as the learner would read it."""

    def __init__(self, domain: int, store):
        self.probe = Probe(domain)
        self.pubs = [
            self.probe.node.create_publisher(
                Float64MultiArray, f"/actor_{a}/{topics.STEP_RECORDS}", topics.RECORDS
            )
            for a in ACTORS
        ]
        self.reader = rs.StoreReader(store)
        self.stored: list = []

    def publish(self, uids, cut: int = 0) -> None:
        """Publish the episodes' records, actors interleaved; the last `cut` records of each
        episode are held back."""
        streams = [
            [m for u in uids if u % 2 == a for m in _messages(u)[: -cut or None]] for a in ACTORS
        ]
        for k in range(max(map(len, streams))):
            for actor, stream in zip(ACTORS, streams, strict=True):
                if k < len(stream):
                    self.pubs[actor].publish(stream[k])
        self.probe.spin_for(0.05)

    def subscribed(self, n: int) -> bool:
        """Whether every actor topic has n matched subscriptions."""
        return all(p.get_subscription_count() == n for p in self.pubs)

    def refresh(self) -> set[int]:
        """Read the chunks that landed; the uids stored so far."""
        self.stored += self.reader.new_episodes()
        return {episode_uid(e) for e in self.stored}

    def wait_stored(self, uids, timeout: float = 20.0) -> None:
        def landed():
            return set(uids) <= self.refresh()

        self.probe.spin_until(landed, timeout, f"episodes {sorted(uids)} in the store")

    def uids(self) -> list[int]:
        return sorted(episode_uid(e) for e in self.stored)


def test_the_store_matches_record_topics_by_their_graph_name():
    assert rs.is_record_topic("/actor_3/" + topics.STEP_RECORDS, sr.MSGTYPE)
    assert not rs.is_record_topic("/actor_3/" + topics.COMMANDS, sr.MSGTYPE)


def test_recorder_stores_exactly_the_complete_episodes_of_every_actor(tmp_path):
    domain, store = fresh_domain(), tmp_path / "store"
    params = {"store": str(store), "flush_period": 0.2, "scan_period": 0.2}
    proc = start_node("replay_recorder", domain, tmp_path, params=params)
    actors = _Actors(domain, store)
    try:
        actors.probe.spin_until(lambda: actors.subscribed(1), 20, "subscriptions")
        actors.publish(range(0, 6))
        actors.pubs[0].publish(Float64MultiArray(data=[1.0, 2.0]))  # not a step record
        actors.publish([6, 7], cut=1)  # in flight: never closed
        actors.publish(range(8, 10))
        actors.wait_stored([0, 1, 2, 3, 4, 5, 8, 9])
        actors.probe.spin_for(0.5)
        actors.refresh()
        assert actors.uids() == [0, 1, 2, 3, 4, 5, 8, 9]
        assert_all_expected(actors.stored)
        assert stop(proc) == 0
        for chunk in rs.list_chunks(store):
            with Reader(chunk.path) as bag:
                assert {c.topic for c in bag.connections} <= {
                    "/actor_0/step_records",
                    "/actor_1/step_records",
                }
        assert not list(store.glob("wal_*"))  # a clean stop leaves only chunks
        log = log_text(proc)
        assert "malformed record on /actor_0/step_records" in log, log
        assert "episodes, " in log and "transitions" in log
    finally:
        stop(proc)
        actors.probe.close()


def test_a_kill_9_loses_no_episode_the_publishers_still_hold(tmp_path):
    """Episodes in the WAL are recovered; the restarted recorder gets the records its
    predecessor had not taken, or had taken for episodes still in flight, from the publishers'
    history (topics.RECORDS), and stores nothing twice."""
    domain, store = fresh_domain(), tmp_path / "store"
    params = {"store": str(store), "flush_period": 0.2, "scan_period": 0.2}
    proc = start_node("replay_recorder", domain, tmp_path, params=params)
    actors = _Actors(domain, store)
    try:
        actors.probe.spin_until(lambda: actors.subscribed(1), 20, "subscriptions")
        actors.publish(range(0, 4))
        actors.wait_stored(range(0, 4))
        assert stop(proc) == 0
        actors.probe.spin_until(lambda: actors.subscribed(0), 10, "the recorder gone")

        # A flush period far beyond the test: what finishes now stays in the write-ahead log.
        proc = start_node(
            "replay_recorder", domain, tmp_path, params={**params, "flush_period": 60.0}
        )
        actors.probe.spin_until(lambda: actors.subscribed(1), 20, "subscriptions")
        actors.publish(range(4, 8))
        actors.publish([8, 9], cut=3)  # in flight at the kill
        wal = store / f"wal_{max(rs.chunk_numbers(store)) + 1:06d}.log"
        actors.probe.spin_until(lambda: len(rs.read_wal(wal)) == 4, 10, "4 episodes in the WAL")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # The chunks of the first run are untouched and whole.
        kept = [e for c in rs.list_chunks(store) for e in rs.read_bag(c.path)]
        assert sorted(episode_uid(e) for e in kept) == [0, 1, 2, 3]

        proc = start_node("replay_recorder", domain, tmp_path, params=params)
        actors.wait_stored(range(4, 8))
        # The restarted recorder's subscriptions (the killed one may still count as matched):
        # publish a 1-step sentinel episode per actor until one lands.
        for actor in ACTORS:
            uids = iter(range(1000 + actor, 2000, 2))

            def sentinel_landed(uids=uids, actor=actor):
                for msg in _messages(next(uids), length=1):
                    actors.pubs[actor].publish(msg)
                actors.probe.spin_for(0.3)
                return any(u >= 1000 and u % 2 == actor for u in actors.refresh())

            actors.probe.spin_until(sentinel_landed, 20, f"the restarted /actor_{actor}")
        for uid in (8, 9):  # the rest of the episodes in flight at the kill: their start
            # reaches the restarted recorder from the history
            for msg in _messages(uid)[-3:]:
                actors.pubs[uid % 2].publish(msg)
        actors.publish(range(10, 14))
        actors.wait_stored(range(10, 14))
        actors.probe.spin_for(0.5)
        actors.refresh()
        assert [u for u in actors.uids() if u < 1000] == list(range(14))
        assert_all_expected([e for e in actors.stored if episode_uid(e) < 1000])
        assert "4 episodes recovered" in log_text(proc)
        assert stop(proc) == 0
    finally:
        stop(proc)
        actors.probe.close()


def test_a_recorder_that_subscribes_late_stores_what_went_out_before_once(tmp_path):
    """Records published before any recorder subscribed (a recorder slower to start than the
    policies, or matched late by a restarted policy) still reach the store, from the
    publishers' history; a recorder started again on the store gets that history again and
    stores none of it twice."""
    domain, store = fresh_domain(), tmp_path / "store"
    params = {"store": str(store), "flush_period": 0.2, "scan_period": 0.2}
    actors = _Actors(domain, store)
    proc = None
    try:
        actors.publish(range(0, 4))  # nobody subscribes yet
        proc = start_node("replay_recorder", domain, tmp_path, params=params)
        actors.wait_stored(range(0, 4))
        assert stop(proc) == 0
        actors.probe.spin_until(lambda: actors.subscribed(0), 10, "the recorder gone")
        proc = start_node("replay_recorder", domain, tmp_path, params=params)
        actors.probe.spin_until(lambda: actors.subscribed(1), 20, "subscriptions")
        actors.publish(range(4, 6))
        actors.wait_stored(range(4, 6))
        actors.probe.spin_for(0.5)
        actors.refresh()
        assert actors.uids() == list(range(6))
        assert_all_expected(actors.stored)
        assert stop(proc) == 0
    finally:
        if proc is not None:
            stop(proc)
        actors.probe.close()


def test_a_damaged_store_leaves_the_recorder_running(tmp_path):
    """Every kind of damaged or stray entry named like a chunk: the recorder says so once per
    entry, keeps recording, and numbers its chunks above them all, so a learner that was
    reading the store all along gets the new episodes."""
    domain, store = fresh_domain(), tmp_path / "store"
    writer = rs.StoreWriter(store)
    for uid in (100, 102):
        for record in episode_records(random_episode(uid), "/actor_0", uid, range(100)):
            writer.add("/actor_0/step_records", sr.encode_cdr(record), 0)
    writer.close()
    names = [f"chunk_{n:06d}" for n in range(3, 3 + len(DAMAGE))]
    for name, (damage, _) in zip(names, DAMAGE.values(), strict=True):
        damage(store, name)
    actors = _Actors(domain, store)
    assert actors.refresh() == {100, 102} and len(actors.reader.unreadable) == len(DAMAGE)
    params = {"store": str(store), "flush_period": 0.2, "scan_period": 0.2}
    proc = start_node("replay_recorder", domain, tmp_path, params=params)
    try:
        actors.probe.spin_until(lambda: actors.subscribed(1), 20, "subscriptions")
        actors.publish(range(0, 4))
        actors.wait_stored(range(0, 4))
        assert proc.poll() is None
        assert stop(proc) == 0
        log = log_text(proc)
        for name in names:
            assert log.count(f"store: {name} is not a readable chunk") == 1, log
        new = [c.number for c in rs.list_chunks(store) if c.number > 0]
        assert new and min(new) > int(names[-1].removeprefix("chunk_")), new
        assert_all_expected(actors.stored)
    finally:
        stop(proc)
        actors.probe.close()


def test_an_intake_that_fails_stops_the_recorder(tmp_path):
    """An error in the intake thread (a bug) ends the node's run with exit code 1, rather than
    leaving a recorder that runs on and records nothing."""
    import rclpy

    from skill_embedding_ros.ros.replay_recorder import INTAKE_PERIOD_S, ReplayRecorder

    rclpy.init(args=["--ros-args", "-p", f"store:={tmp_path / 'store'}"], domain_id=fresh_domain())
    try:
        recorder = ReplayRecorder()

        def fail():
            raise RuntimeError("intake bug")

        recorder._take_all = fail
        deadline = time.monotonic() + 100 * INTAKE_PERIOD_S
        while getattr(recorder, "exit_code", None) is None and time.monotonic() < deadline:
            time.sleep(INTAKE_PERIOD_S)
        assert getattr(recorder, "exit_code", None) == 1
        recorder.close()  # its last take fails the same way: logged, and the chunk still written
        recorder.destroy_node()
    finally:
        rclpy.shutdown()
