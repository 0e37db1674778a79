"""Replay recorder node: every actor's per-step records -> the persistent replay store.

Scans the graph every `scan_period` s for topics named `.../step_records` of the record type,
so actors may join at any time, and subscribes to each with raw=True: the store keeps the CDR
bytes exactly as received (data/replay_store.py says how it is laid out). Writes a chunk every
`flush_period` s and logs a line per chunk.

Every policy keeps its last records for subscribers that match it late (ros/topics.py RECORDS,
transient-local): a recorder that starts after the policies, restarts after a kill -9, or
matches a restarted policy late gets them, and the store keeps an episode it gets twice once
(data/store_writer.py). So what a kill -9 loses is only what the policies no longer hold once the
restarted recorder matches them: records queued in this process's subscriptions (DDS has
acknowledged them) and those published while it was down come again. Intake still does nothing
but take records and log closed episodes to the store's write-ahead log: every INTAKE_PERIOD_S a
thread of its own takes each subscription's whole queue (the executor never waits on the
subscriptions: one wake per record cost rclpy's SingleThreadedExecutor more than storing it, and
so did a timer's wake), chunks are written and fsynced by another thread, and the per-chunk log
line gives the largest lag (store time - send time) of the records sent since the recorder
started.
docs/ros_graph.md gives the measured figures.
"""

from __future__ import annotations

import sys
import threading
import time

from rclpy.callback_groups import CallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray

from skill_embedding_ros.data.replay_store import ChunkInfo, StoreWriter, is_record_topic
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.settings.nodes import StoreConfig

LOG_PERIOD_S = 30.0
INTAKE_PERIOD_S = 0.01
"""How often the queued records are taken: a lag this small is nothing beside a chunk's flush
period, and a hundred wakes a second of the intake thread cost little whatever the record rate
(as an rclpy timer, whose every wake rebuilt the executor's wait set and inspected the callback's
signature, they cost about 5 % of a core more, with no record at all: docs/speed.md)."""
DRAIN_MAX = 1000
"""Records taken per topic and intake at most, so one busy topic cannot hold back the others
(nor keep its records far from the take's one clock reading)."""


class _Polled(CallbackGroup):
    """Subscriptions no executor waits on or calls back: their messages stay queued in DDS
    until the node takes them itself."""

    def can_execute(self, entity) -> bool:
        return False

    def beginning_execution(self, entity) -> bool:
        return False

    def ending_execution(self, entity) -> None:
        pass


class ReplayRecorder(Node):
    # run.new_executor: the polled subscriptions need an executor that asks their callback group
    # (rclpy's EventsExecutor of 9.1.2 also failed on callbacks that take the message info).
    single_threaded_executor = True

    def __init__(self):
        super().__init__("replay_recorder")
        self.cfg = declare(self, StoreConfig)
        try:
            self.store = StoreWriter(self.cfg.store, self.cfg.max_megabytes * 1e6)
        except RuntimeError as err:
            raise SystemExit(f"error: {err}") from None
        except OSError as err:
            raise SystemExit(
                f"error: cannot open the replay store {self.cfg.store}: {err}"
            ) from None
        for line in self.store.skipped:
            self.get_logger().warning(f"store: {line}")
        self.malformed = 0
        self.lag_ns = 0
        """Largest send-to-store delay of a record since the last info line."""
        self.started_ns = time.time_ns()
        """Records sent before this (their publishers' history, ros/topics.py RECORDS) are not
        lag: they reach a recorder that (re)starts late by design."""
        self.logged_at, self.dropped_logged = float("-inf"), {}
        self._recorded_topics: dict[str, object] = {}
        self.get_logger().info(
            f"recording into {self.cfg.store}: {self.store.chunks} chunks, "
            f"{self.store.size_bytes / 1e6:.1f} MB, {self.store.recovered} episodes recovered "
            "from the write-ahead log"
        )
        # Flushing and scanning are about wall time, not sim time (which may stand still).
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(self.cfg.scan_period, self._scan, clock=steady)
        self._polled = _Polled()
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="flush", daemon=True)
        self._flusher.start()
        self._scan()
        self._intake = threading.Thread(target=self._intake_loop, name="intake", daemon=True)
        self._intake.start()

    def _scan(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if topic in self._recorded_topics or not any(is_record_topic(topic, t) for t in types):
                continue
            self._recorded_topics[topic] = self.create_subscription(
                Float64MultiArray,
                topic,
                lambda _: None,  # never called: _take_all takes the records
                topics.RECORDS_INTAKE,
                callback_group=self._polled,
                raw=True,
            )
            self.get_logger().info(f"recording {topic}")

    def _intake_loop(self) -> None:
        """The intake thread: the only taker of these subscriptions (the executor never takes
        from a `_Polled` one)."""
        while not self._stop.wait(INTAKE_PERIOD_S):
            if not self._take_safely():
                return

    def _take_safely(self) -> bool:
        try:
            self._take_all()
            return True
        except Exception as err:  # a bug: stop the node rather than silently stop recording
            self.get_logger().error(f"taking records failed, stopping: {err!r}")
            self.exit_code = 1
            return False

    def _take_all(self) -> None:
        """Every record queued on every recorded topic (DRAIN_MAX per topic at most): a record
        still queued is one a kill loses. They are stamped with the time of the take (the store
        keeps stamps increasing): a clock reading per record was 2 % of the recorder's time."""
        taken_ns = self.get_clock().now().nanoseconds
        for topic, sub in tuple(self._recorded_topics.items()):  # _scan may add one meanwhile
            for _ in range(DRAIN_MAX):
                with sub.handle:
                    taken = sub.handle.take_message(sub.msg_type, sub.raw)
                if taken is None:
                    break
                self._store(topic, *taken, taken_ns)

    def _store(self, topic: str, data: bytes, info, taken_ns: int) -> None:
        sent = info.get("source_timestamp") if isinstance(info, dict) else None
        if sent and sent >= self.started_ns:
            self.lag_ns = max(self.lag_ns, time.time_ns() - sent)
        try:
            self.store.add(topic, data, taken_ns)
        except ValueError as err:
            self.malformed += 1
            self.get_logger().warning(
                f"dropped a malformed record on {topic} ({self.malformed} so far): {err}",
                throttle_duration_sec=5.0,
            )
        except OSError as err:  # a full disk: kept for the next chunk, but not crash-safe now
            self.get_logger().error(
                f"could not append an episode to the write-ahead log ({err}); it waits for the "
                f"next chunk, and a crash before that loses it: free space in {self.cfg.store}",
                throttle_duration_sec=10.0,
            )

    def _flush_loop(self) -> None:
        """The flush thread: a chunk every flush period, off the executor's thread."""
        while not self._stop.wait(self.cfg.flush_period):
            self._flush()

    def _flush(self) -> None:
        try:
            info = self.store.flush()
        except OSError as err:  # a full or failing disk: the episodes stay in the WAL
            self.get_logger().error(
                f"could not write a chunk ({err}); the episodes stay in the write-ahead log "
                f"and the next flush tries again: free space in {self.cfg.store}",
                throttle_duration_sec=10.0,
            )
            return
        except Exception as err:  # a bug: stop the node rather than silently stop storing
            self.get_logger().error(f"writing a chunk failed, stopping: {err!r}")
            self.exit_code = 1
            return
        if info is not None:
            self._log(info)

    def _log(self, info: ChunkInfo) -> None:
        counts = self.store.assembler.counts
        dropped = {k: v for k, v in counts.items() if k not in ("records", "episodes") and v}
        # A chunk lands every flush period: one info line per LOG_PERIOD_S, the rest at debug.
        log, lag_ms = self.get_logger().debug, self.lag_ns / 1e6
        now = time.monotonic()
        if now - self.logged_at >= LOG_PERIOD_S or dropped != self.dropped_logged:
            log, self.logged_at, self.dropped_logged = self.get_logger().info, now, dropped
            self.lag_ns = 0  # the largest lag of the records since the last info line
        log(
            f"{info.path.name}: {info.episodes} episodes, {info.transitions} transitions, "
            f"{info.bytes / 1e3:.0f} kB; store {self.store.size_bytes / 1e6:.1f} MB, "
            f"{self.store.assembler.in_flight} episodes in flight, "
            f"lag up to {lag_ms:.0f} ms" + (f", dropped {dropped}" if dropped else "")
        )

    def close(self) -> None:
        self._stop.set()
        self._intake.join()
        self._take_safely()  # what is still queued goes into the last chunk
        self._flusher.join()
        self._flush()
        try:
            self.store.close()
        except OSError as err:
            self.get_logger().error(
                f"could not write the last chunk ({err}); its episodes stay in the write-ahead "
                "log, and the next recorder on this store puts them in a chunk"
            )


def main(args=None):
    return spin(ReplayRecorder, args)


if __name__ == "__main__":
    sys.exit(main())
