"""Bag recorder node: chosen topics of a running graph -> a rosbag2 bag (MCAP, or sqlite3 on
request), written with `rosbags` from the raw bytes of `raw=True` subscriptions, so it needs no
`ros2 bag` and never re-serializes a message (rclpy's serializer can add stray bytes).

Like `ros2 bag record`: topics are found by name pattern every `scan_period` s (0.1 s: what
a volatile topic sends before the subscription matches is lost, and a scan costs about 50 us),
so publishers may join at any time; each topic is subscribed with QoS that matches every
publisher found (reliable only if they all are, transient-local only if they all are), and the
publishers' offered QoS and the type's hash go into metadata.yaml, so `ros2 bag info/play` read
the bag as one of their own.
The log time of a message is, by default, its publisher's send time (MessageInfo.
source_timestamp, what rosbag2 keeps as publish_time): measured here, reception times across
topics can put a lockstep command a few microseconds after the state it caused, which would
break ingestion's alignment; send times on one host keep the causal order (`log_time: receive`
gives rosbag2's reception times). A bag is readable once closed (Ctrl-C, `duration`); a killed
recorder leaves an MCAP without its index.

    skill-embedding record runs/demo.bag '/actor_*/joint_states' '/actor_*/commands' ...
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import sys
import time

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import StoragePlugin

from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.settings.nodes import BagRecordConfig

STORAGES = {
    "mcap": StoragePlugin.MCAP,
    "sqlite3": StoragePlugin.SQLITE3,
}  # BagRecordConfig.storage


class BagRecorder(Node):
    single_threaded_executor = True  # its callbacks take the message info (run.new_executor)

    def __init__(self):
        super().__init__("bag_recorder")
        self.cfg = declare(self, BagRecordConfig)
        try:
            self.bag = Writer(self.cfg.out, version=9, storage_plugin=STORAGES[self.cfg.storage])
            self.bag.open()
        except Exception as err:  # an existing directory, no permission: say so and stop
            raise SystemExit(f"error: cannot create bag {self.cfg.out}: {err}") from None
        self.connections: dict[str, object] = {}
        self.skipped: set[str] = set()
        self.unmatched: set[str] = set()
        """Topics whose names match no pattern: never looked at again."""
        self.messages = 0
        self._time_key = f"{'source' if self.cfg.log_time == 'send' else 'received'}_timestamp"
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(self.cfg.scan_period, self._scan, clock=steady)
        if self.cfg.duration:
            self.create_timer(self.cfg.duration, self._done, clock=steady)
        self.get_logger().info(
            f"recording {list(self.cfg.topics)} into {self.cfg.out} ({self.cfg.storage})"
        )
        self._scan()

    def _scan(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if topic in self.connections or topic in self.skipped or topic in self.unmatched:
                continue
            if not any(fnmatch.fnmatchcase(topic, p) for p in self.cfg.topics):
                self.unmatched.add(topic)
                continue
            publishers = self.get_publishers_info_by_topic(topic)
            if not publishers:
                continue  # only subscribers so far: the publishers' QoS decides ours
            if len(types) != 1:
                self._skip(topic, f"it carries several types {types}")
                continue
            self._subscribe(topic, types[0], publishers)

    def _subscribe(self, topic: str, msgtype: str, publishers) -> None:
        try:
            package, kind, name = msgtype.split("/")
            msg_class = getattr(importlib.import_module(f"{package}.{kind}"), name)
            connection = self.bag.add_connection(
                topic,
                msgtype,
                typestore=sr.typestore(),
                offered_qos_profiles=[_bag_qos(p.qos_profile) for p in publishers],
            )
        except Exception as err:  # a type rosbags or this Python does not know
            self._skip(topic, f"its type {msgtype} is unknown here ({err})")
            return
        self.connections[topic] = connection
        self.create_subscription(
            msg_class,
            topic,
            functools.partial(self._on_message, connection),
            _matching_qos([p.qos_profile for p in publishers], self.cfg.depth),
            raw=True,
        )
        self.get_logger().info(f"recording {topic} ({msgtype})")

    def _skip(self, topic: str, why: str) -> None:
        self.skipped.add(topic)
        self.get_logger().warning(f"not recording {topic}: {why}")

    def _on_message(self, connection, data: bytes, info) -> None:
        # Written as stamped, whatever order the executor ran the callbacks in: bag readers sort
        # by log time.
        stamp = info.get(self._time_key) or time.time_ns()
        self.bag.write(connection, int(stamp), data)
        self.messages += 1

    def _done(self) -> None:
        self.exit_code = 0

    def close(self) -> None:
        self.bag.close()
        self.get_logger().info(
            f"wrote {self.messages} messages on {len(self.connections)} topics to {self.cfg.out}"
        )


def _matching_qos(offered: list[QoSProfile], depth: int) -> QoSProfile:
    """A subscription QoS every offered profile is compatible with (rosbag2's own rule)."""
    reliable = all(p.reliability == ReliabilityPolicy.RELIABLE for p in offered)
    latched = all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in offered)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def _bag_qos(profile: QoSProfile) -> Qos:
    """An offered profile as rosbag2 notes it in metadata.yaml (same enum values as rmw)."""

    def duration(d) -> QosTime:
        return QosTime(*divmod(int(d.nanoseconds), 1_000_000_000))

    return Qos(
        history=QosHistory(int(profile.history)),
        depth=int(profile.depth),
        reliability=QosReliability(int(profile.reliability)),
        durability=QosDurability(int(profile.durability)),
        deadline=duration(profile.deadline),
        lifespan=duration(profile.lifespan),
        liveliness=QosLiveliness(int(profile.liveliness)),
        liveliness_lease_duration=duration(profile.liveliness_lease_duration),
        avoid_ros_namespace_conventions=bool(profile.avoid_ros_namespace_conventions),
    )


def main(args=None):
    return spin(BagRecorder, args)


if __name__ == "__main__":
    sys.exit(main())
