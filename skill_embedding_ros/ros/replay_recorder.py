"""Replay recorder node: every actor's per-step records -> the persistent replay store.

Scans the graph every `scan_period` s for topics named `.../step_records` of the record type,
so actors may join at any time, and subscribes to each with raw=True: the store keeps the CDR
bytes exactly as received (core/replay_store.py says how it is laid out and what a crash can
lose). Writes a chunk every `flush_period` s and logs a line per chunk.
"""

from __future__ import annotations

import functools
import sys
import time

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray

from skill_embedding_ros.core.config import StoreConfig
from skill_embedding_ros.core.replay_store import ChunkInfo, StoreWriter, is_record_topic
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin

LOG_PERIOD_S = 10.0


class ReplayRecorder(Node):
    def __init__(self):
        super().__init__("replay_recorder")
        self.cfg = declare(self, StoreConfig)
        try:
            self.store = StoreWriter(self.cfg.store, self.cfg.max_megabytes * 1e6)
        except RuntimeError as err:
            raise SystemExit(f"error: {err}") from None
        self.malformed = 0
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
        self.create_timer(self.cfg.flush_period, self._flush, clock=steady)
        self._scan()

    def _scan(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if topic in self._recorded_topics or not any(is_record_topic(topic, t) for t in types):
                continue
            self._recorded_topics[topic] = self.create_subscription(
                Float64MultiArray,
                topic,
                functools.partial(self._on_record, topic),
                topics.RECORDS,
                raw=True,
            )
            self.get_logger().info(f"recording {topic}")

    def _on_record(self, topic: str, data: bytes) -> None:
        try:
            self.store.add(topic, data, self.get_clock().now().nanoseconds)
        except ValueError as err:
            self.malformed += 1
            self.get_logger().warning(
                f"dropped a malformed record on {topic} ({self.malformed} so far): {err}",
                throttle_duration_sec=5.0,
            )

    def _flush(self) -> None:
        info = self.store.flush()
        if info is not None:
            self._log(info)

    def _log(self, info: ChunkInfo) -> None:
        counts = self.store.assembler.counts
        dropped = {k: v for k, v in counts.items() if k not in ("records", "episodes") and v}
        # A chunk lands every flush period: one info line per LOG_PERIOD_S, the rest at debug.
        log = self.get_logger().debug
        now = time.monotonic()
        if now - self.logged_at >= LOG_PERIOD_S or dropped != self.dropped_logged:
            log, self.logged_at, self.dropped_logged = self.get_logger().info, now, dropped
        log(
            f"{info.path.name}: {info.episodes} episodes, {info.transitions} transitions, "
            f"{info.bytes / 1e3:.0f} kB; store {self.store.size_bytes / 1e6:.1f} MB, "
            f"{self.store.assembler.in_flight} episodes in flight"
            + (f", dropped {dropped}" if dropped else "")
        )

    def close(self) -> None:
        self._flush()
        self.store.close()


def main(args=None):
    return spin(ReplayRecorder, args)


if __name__ == "__main__":
    sys.exit(main())
