"""Which topics of a bag are a robot's: per source (a namespace holding `joint_states`,
`commands` and `objects/<name>/pose`, or remapped ones), each role's topic, checked for its
message type. Bag alignment (data/bags/align.py) reads what this finds."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from skill_embedding_ros.data.bags.reader import BagError
from skill_embedding_ros.topic_names import COMMANDS, JOINT_STATES, TASK, object_pose_topic

if TYPE_CHECKING:
    from skill_embedding_ros.data.bags.align import AlignConfig

# Types of the robot topics.
TYPES = {
    JOINT_STATES: "sensor_msgs/msg/JointState",
    COMMANDS: "std_msgs/msg/Float64MultiArray",
    "pose": "geometry_msgs/msg/PoseStamped",
    "task": "std_msgs/msg/String",
}


def find_sources(bag_topics: dict[str, str], cfg: AlignConfig) -> dict[str, dict[str, str]]:
    """source namespace -> {role: the bag's topic}, roles being joint_states, commands,
    objects/<name>/pose and task (with a task topic, or, given neither a task nor a task topic,
    the graph's own `task` topic in each source: topic_names.TASK). BagError names what is
    missing or has the wrong type, and the bag's topics."""
    task_topic = cfg.task_topic if cfg.task is not None or cfg.task_topic else TASK
    roles = [JOINT_STATES, COMMANDS] + [object_pose_topic(o) for o in cfg.suite.objects]
    if task_topic:
        roles.append("task")
    unknown = sorted(set(cfg.remap) - set(roles))
    if unknown:
        raise BagError(f"cannot remap {unknown}: the robot topics are {roles}")
    if cfg.namespace is not None:
        namespaces = [_absolute(cfg.namespace)]
    elif JOINT_STATES in cfg.remap:
        namespaces = [posixpath.dirname(_absolute(cfg.remap[JOINT_STATES]))]
    else:
        namespaces = sorted(
            posixpath.dirname(t)
            for t, msgtype in bag_topics.items()
            if t.rsplit("/", 1)[-1] == JOINT_STATES and msgtype == TYPES[JOINT_STATES]
        )
    if not namespaces:
        raise BagError(
            f"no {JOINT_STATES} topic of type {TYPES[JOINT_STATES]} in the bag "
            f"(remap one with joint_states:=TOPIC); its topics: {_listing(bag_topics)}"
        )
    sources = {}
    for ns in namespaces:
        chosen = {}
        for role in roles:
            name = task_topic if role == "task" else role
            topic = _absolute(cfg.remap.get(role, name), ns)
            expected = TYPES["pose"] if role.startswith("objects/") else TYPES[role]
            if topic not in bag_topics and role == "task" and not cfg.task_topic:
                raise BagError(
                    f"robot topics need the task: the source {ns} has no {topic} ({expected}); "
                    "give --task NAME or --task-topic TOPIC"
                )
            if topic not in bag_topics:
                raise BagError(
                    f"missing topic {topic} ({expected}) for the source {ns}; "
                    f"the bag's topics: {_listing(bag_topics)}"
                )
            if bag_topics[topic] != expected:
                raise BagError(f"topic {topic} has type {bag_topics[topic]}, expected {expected}")
            chosen[role] = topic
        sources[ns] = chosen
    return sources


def _absolute(name: str, namespace: str = "/") -> str:
    return posixpath.normpath(posixpath.join("/", namespace, name)).replace("//", "/")


def _listing(bag_topics: dict[str, str]) -> str:
    return ", ".join(f"{t} ({m})" for t, m in sorted(bag_topics.items())) or "none"
