"""Every topic and service name of the graph (from topic_names.py), and the QoS each one
gets. QoS is chosen per topic:
* reliable for everything lockstep training depends on: a dropped joint_states or command would
  stall a lockstep actor, and a dropped record would lose an episode;
* transient-local (latched) for the weights and the gate state, so a late joiner gets the last one;
* transient-local with a bounded history for the per-step records, so a replay recorder that
  subscribes late gets what it missed.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

# The names (one source of truth, ROS-free so the core's store and bag code share them).
from skill_embedding_ros.topic_names import (  # noqa: F401
    CLOCK,
    COMMANDS,
    DIAGNOSTICS,
    ESTOP,
    EXECUTED,
    GATE_STATE,
    HOME,
    JOINT_STATES,
    JOY,
    MARKERS,
    OBJECT_POSE,
    POLICY_COMMAND,
    POLICY_WEIGHTS,
    RESET,
    ROBOT_DESCRIPTION,
    ROBOT_RESET,
    SAFETY_STOP,
    SIM_DESCRIPTION,
    STEP_RECORDS,
    TASK,
    TRIAL_LABEL,
    TRIAL_STATE,
    object_pose_topic,
)

RELIABLE = QoSProfile(
    depth=10,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
"""Commands and robot state."""

NEWEST_COMMAND = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
"""A lockstep safety gate's subscription to policy commands (ros/safety_gate.py says why)."""

RECORDS = QoSProfile(
    depth=5000,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
"""Per-step records: a deep queue, so a busy recorder falls behind instead of losing steps, and
each policy keeps its last 5000 records (about 100 episodes, 10 s or more of one actor; ~4 MB)
for subscribers that match it late: a recorder restarted after a kill (DDS goes on counting a
killed subscriber as matched for its lease, 20 s), or one that matches a (re)started policy after
its first records. The recorder stores an episode it gets twice only once (data/store_writer.py,
episode_digest). A transient-local subscriber does not match a volatile publisher: every
publisher of records uses this profile."""

RECORDS_INTAKE = QoSProfile(
    depth=50_000,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
"""The replay recorder's subscription to each actor's records: RECORDS with room for the
history of many policies arriving at once when it (re)starts, beside the live records."""

LATCHED = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
"""Weights, gate state, robot and sim descriptions, the episode's task: only the newest matters,
and late joiners must get it."""

SENSOR = QoSProfile(
    depth=5,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
"""Camera images and their CameraInfo (rclpy's sensor-data profile): only the newest frame
matters, and a lost one is replaced by the next; a resent old image would be a stale pose. A
best-effort subscription matches a camera driver's reliable and best-effort publishers alike."""

LABELS = QoSProfile(
    depth=1000,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
"""Trial labels: latched with room for every label of a run (a trial takes minutes, so 1000 is a
long day), so a bag recorder that starts late still gets them all."""
