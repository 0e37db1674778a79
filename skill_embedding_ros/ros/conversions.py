"""Message <-> core conversions, in one place: stamps, commands by joint name, poses, per-step
records, weights, trajectories, status."""

from __future__ import annotations

import re

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Pose
from rclpy.duration import Duration
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension, UInt8MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.robots.arm_link import Plan


def stamp_ns(stamp: Time) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def to_stamp(ns: int) -> Time:
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


FIELDS = {"velocity": "velocity", "position": "position", "torque": "effort"}
"""The JointState field that carries a command of each interface."""


def command_message(stamp: Time, joints, values, interface: str, source: str = "") -> JointState:
    """A command by joint name (policy_command, executed): the stamp names the state it answers,
    the interface's field holds one value per joint. `source` (executed only, in frame_id, as
    no standard message has a field for it): whose command the gate sent, control/teleop.py's
    Source ("policy" for the policy's own, limited or not)."""
    msg = JointState(name=list(joints))
    msg.header.stamp = stamp
    msg.header.frame_id = source
    setattr(msg, FIELDS[interface], [float(v) for v in values])
    return msg


def command_values(msg: JointState, joints, interface: str) -> np.ndarray:
    """The values of a command message in `joints` order; NaN for a joint it lacks (so the gate
    refuses it) and for a field shorter than its names."""
    values = getattr(msg, FIELDS[interface])
    by_name = dict(zip(msg.name, values, strict=False))
    return np.array([by_name.get(j, np.nan) for j in joints], np.float64)


def pose_tuple(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """geometry_msgs/Pose -> (position (x, y, z), quaternion (w, x, y, z)), as tasks/suite.py."""
    p, q = pose.position, pose.orientation
    return np.array([p.x, p.y, p.z]), np.array([q.w, q.x, q.y, q.z])


def reset_reply(stamp: Time, task: str | None = None) -> str:
    """The `reset` service's reply message: names the new episode's first state stamp, because
    the state and the reply travel separately and a client must not act on an older state; and,
    from a robot that knows tasks (the sim bridge), the task it reset for (`task=` with nothing
    after it: none was given, the scene's default start), because the task travels on its own
    topic (topics.TASK) and may arrive after the reset (topic_names.TASK)."""
    where = "" if task is None else f" for task={task}"
    return f"reset{where}; new state stamped sec={stamp.sec} nanosec={stamp.nanosec}"


def reset_reply_stamp(message: str) -> int | None:
    """The stamp (ns) a `reset_reply` names, or None for a reply without one."""
    match = re.search(r"sec=(\d+) nanosec=(\d+)", message)
    return int(match[1]) * 1_000_000_000 + int(match[2]) if match else None


def reset_reply_task(message: str) -> str | None:
    """The task a `reset_reply` names ("" for the scene's default start), or None for a reply
    from a robot that names no task (a hardware driver: it has one start)."""
    match = re.search(r"\btask=([^;\s]*)", message)
    return match[1] if match else None


UNKNOWN_TASK = "refused: unknown task"
"""How a robot's `reset` reply begins when it does not know the task named on topics.TASK: it
never will, so the policy stops with the reason instead of asking again and again."""


def record_message(record: sr.StepRecord) -> Float64MultiArray:
    """A per-step record as Float64MultiArray with one labelled dimension per field, for a
    publisher that sends message objects (the skill policy sends the same message as the bytes
    `sr.encode_cdr` gives)."""
    layout, data = sr.encode(record)
    msg = Float64MultiArray(data=data.tolist())
    msg.layout.dim = [MultiArrayDimension(label=n, size=s, stride=s) for n, s in layout]
    return msg


def weights_message(data: bytes, signature: str = "") -> UInt8MultiArray:
    """Safetensors bytes (core.checkpoint.encode_weights carries the version) as a message; a
    signature (agent/weights_signature.py) goes in the layout's first label."""
    msg = UInt8MultiArray()
    msg.data = bytes(data)
    if signature:
        msg.layout.dim = [MultiArrayDimension(label=signature, size=len(data), stride=len(data))]
    return msg


def weights_signature(msg: UInt8MultiArray) -> str:
    """The signature label of a weights message ("" when unsigned)."""
    return msg.layout.dim[0].label if msg.layout.dim else ""


def trajectory_message(plan: Plan) -> JointTrajectory:
    """A homing plan as trajectory_msgs/JointTrajectory (stamp 0: start on receipt)."""
    msg = JointTrajectory(joint_names=list(plan.joints))
    for t, q, dq in zip(plan.times, plan.positions, plan.velocities, strict=True):
        point = JointTrajectoryPoint(positions=list(q), velocities=list(dq))
        point.time_from_start = Duration(seconds=t).to_msg()
        msg.points.append(point)
    return msg


def status_message(name: str, message: str, hardware_id: str, values: dict) -> DiagnosticArray:
    """One OK DiagnosticStatus (for /diagnostics) with `values` as strings."""
    status = DiagnosticStatus(
        level=DiagnosticStatus.OK,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
    )
    return DiagnosticArray(status=[status])
