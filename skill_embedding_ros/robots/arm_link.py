"""The arm driver's decisions (ROS-free; ros/arm_driver.py is the wiring, times are passed in):
whether a vendor's ros2_control stack is the arm the robot config describes, how names and
orders map between the graph (model names, the config's `joints` order) and the vendor (its
names, each controller's order), the homing plan, when the arm is homed, and when it must hold
(zero velocity to every joint)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from skill_embedding_ros.control.joint_limits import JointLimit
from skill_embedding_ros.robots.ros2_control import JOINT_STATES, RobotConfig

LIMIT_SLACK = 0.02
"""rad: how far past a described limit a reading may be and still count as within it (encoders
of an arm resting on a hard stop read a little beyond the URDF's limit)."""


class LinkError(ValueError):
    """The vendor side is not the arm the robot config describes; the message (one line) names
    the joint(s) and what to fix."""


def _names(joints: Iterable[str]) -> str:
    return ", ".join(repr(j) for j in joints)


def _close(name: str, candidates: Iterable[str]) -> str:
    near = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""


def check_joints(
    robot: RobotConfig,
    described: Iterable[str],
    published: Iterable[str],
    with_velocity: Iterable[str],
    model_joints: Sequence[str] = (),
    where: str = "the robot config",
) -> None:
    """Refuse (LinkError) a vendor stack that is not the configured arm.

    `described`: the movable joints of the vendor's robot_description; `published`: the names on
    /joint_states; `with_velocity`: those of them that come with a velocity; `model_joints`: the
    suite's joints in its command order, which the config's must be (empty: not checked). Each
    configured vendor joint must be in both the description and joint_states: in neither, the
    config names a joint the vendor does not have (unknown); only in the description, the
    hardware does not report it (missing); only on joint_states, the description is another
    arm's (mismatch). Vendor joints the config does not name are ignored (a gripper the graph
    does not use, a rail)."""
    described, published, with_velocity = set(described), set(published), set(with_velocity)
    problems = []
    if model_joints and list(robot.joints) != list(model_joints):
        unknown = _names(m for m in robot.joints if m not in model_joints) or "none"
        absent = _names(m for m in model_joints if m not in robot.joints) or "none"
        problems.append(
            f"{where} maps model joints {_names(robot.joints)}, but suite {robot.suite!r} "
            f"commands {_names(model_joints)} in that order (not the suite's: {unknown}; "
            f"not mapped: {absent}): fix the keys of `joints` and their order"
        )
    vendor, model = list(robot.joints.values()), robot.model()
    unknown = [v for v in vendor if v not in described and v not in published]
    if unknown:
        detail = "; ".join(
            f"{model[v]} -> {v!r}{_close(v, described | published)}" for v in unknown
        )
        problems.append(
            f"{where} maps to vendor joint(s) the vendor stack does not have ({detail}): fix "
            f"`joints` to the vendor's names (described: {_names(sorted(described))})"
        )
    missing = [v for v in vendor if v in described and v not in published]
    if missing:
        problems.append(
            f"{JOINT_STATES} lacks vendor joint(s) {_names(missing)} (model "
            f"{_names(model[v] for v in missing)}): add them to the joint_state_broadcaster's "
            "joints, or check that the hardware reports them"
        )
    mismatch = [v for v in vendor if v in published and v not in described]
    if mismatch:
        problems.append(
            f"vendor joint(s) {_names(mismatch)} are on {JOINT_STATES} but not in the vendor's "
            "robot_description: it describes another arm; publish the description this arm's "
            "ros2_control stack runs"
        )
    slow = [v for v in vendor if v in published and v not in with_velocity]
    if slow:
        problems.append(
            f"{JOINT_STATES} carries no velocity for {_names(slow)}: the joint_state_broadcaster "
            "must publish velocities (the policy observes them and homing waits for rest)"
        )
    if problems:
        raise LinkError("; ".join(problems))


def check_home(robot: RobotConfig, limits: Mapping[str, JointLimit]) -> None:
    """Refuse a home pose outside the vendor's described limits (by vendor name)."""
    outside = []
    for m, v in robot.joints.items():
        lim, angle = limits.get(v), robot.home[m]
        if lim is not None and not lim.lower <= angle <= lim.upper:
            outside.append(f"{m} at {angle} rad, limits [{lim.lower}, {lim.upper}]")
    if outside:
        raise LinkError(
            f"home is outside the vendor's joint limits ({'; '.join(outside)}): fix `home` in "
            "the robot config"
        )


@dataclass(frozen=True)
class JointMap:
    """Names and orders between the graph and the vendor."""

    model: tuple[str, ...]
    """Model joint names in the graph's command order (the robot config's `joints` order)."""
    vendor: tuple[str, ...]
    """The vendor name of each of `model`, same order."""
    velocity: tuple[str, ...]
    """The velocity controller's vendor joints, in the order its commands take them."""

    @classmethod
    def of(cls, robot: RobotConfig) -> JointMap:
        model = tuple(robot.joints)
        return cls(model, tuple(robot.vendor(model)), robot.velocity.joints)

    def to_vendor(self) -> dict[str, str]:
        return dict(zip(self.model, self.vendor, strict=True))

    def velocity_command(self, values: Sequence[float]) -> list[float]:
        """A graph command (model order) in the velocity controller's order."""
        by_vendor = dict(zip(self.vendor, values, strict=True))
        return [float(by_vendor[v]) for v in self.velocity]

    def model_state(self, names, positions, velocities, efforts):
        """A vendor joint_states reading as the graph's: (model names, positions, velocities,
        efforts) of the configured joints it holds, in model order; other joints are dropped.
        A field shorter than the names (efforts are often empty) comes back empty."""
        index = {n: i for i, n in enumerate(names)}
        present = [
            (m, index[v]) for m, v in zip(self.model, self.vendor, strict=True) if v in index
        ]

        def pick(values) -> list[float]:
            return [float(values[i]) for _, i in present] if len(values) >= len(names) else []

        return [m for m, _ in present], pick(positions), pick(velocities), pick(efforts)


def known_state_problem(
    robot: RobotConfig,
    positions: Mapping[str, float],
    received: Mapping[str, float],
    now: float,
    state_timeout: float,
    limits: Mapping[str, JointLimit],
) -> str | None:
    """Why the arm is not in a known state (None: it is): every configured joint needs a reading
    (vendor names) received within `state_timeout` s of `now` and inside its described limits."""
    vendor = list(robot.joints.values())
    stale = [v for v in vendor if now - received.get(v, -math.inf) > state_timeout]
    if stale:
        return (
            f"no fresh {JOINT_STATES} (within {state_timeout} s) for {_names(stale)}: check "
            "that the joint_state_broadcaster is publishing"
        )
    outside = []
    for v in vendor:
        lim, q = limits.get(v), positions[v]
        if lim is not None and not lim.lower - LIMIT_SLACK <= q <= lim.upper + LIMIT_SLACK:
            outside.append(f"{robot.model()[v]} at {q:.4f} rad, limits [{lim.lower}, {lim.upper}]")
    if outside:
        return (
            f"joint(s) outside the described limits ({'; '.join(outside)}): move them back "
            "inside with the vendor's tools before activating"
        )
    return None


@dataclass(frozen=True)
class Plan:
    """A JointTrajectory-shaped homing plan: the first point comes one `step` after the start
    (a trajectory controller starts from where the arm is), the last is home at rest."""

    joints: tuple[str, ...]
    """Vendor names in the trajectory controller's order."""
    times: tuple[float, ...]
    """time_from_start of each point (s), increasing."""
    positions: tuple[tuple[float, ...], ...]
    """rad (and `velocities` rad/s): one tuple per point, in `joints` order."""
    velocities: tuple[tuple[float, ...], ...]

    @property
    def duration(self) -> float:
        return self.times[-1]


def hold_plan(joints: Sequence[str], positions: Mapping[str, float], after: float = 0.1) -> Plan:
    """One point where the arm is (vendor names), `after` s from now: how a
    joint_trajectory_controller is told to stop a trajectory and hold."""
    q = tuple(float(positions[j]) for j in joints)
    return Plan(tuple(joints), (after,), (q,), (tuple(0.0 for _ in q),))


def plan_homing(
    robot: RobotConfig, start: Mapping[str, float], ramp: float, step: float = 0.1
) -> Plan:
    """From `start` (vendor name -> rad) to `home` along a straight line in joint space, timed by
    a trapezoid: the joint with the farthest to go speeds up over `ramp` s to homing_speed,
    cruises, and slows down over `ramp` s (a triangle when it is too close to reach full speed);
    the others keep pace in proportion, so none is faster. Sampled every `step` s, with each
    point's velocity, so a controller's spline between points follows the same profile.

    Home is reached as the angle `home` names, not an equivalent one a turn away: the policy
    observes raw angles, so a continuous joint at home + 2 pi is not home to it."""
    joints = robot.trajectory.joints
    to_model = robot.model()
    q0 = np.array([start[v] for v in joints], np.float64)
    goal = np.array([robot.home[to_model[v]] for v in joints], np.float64)
    delta = goal - q0
    far = float(np.max(np.abs(delta)))
    speed = robot.homing_speed
    accel = speed / ramp
    if far < 1e-12:
        return Plan(joints, (step,), (tuple(goal),), ((0.0,) * len(joints),))
    if far >= speed * ramp:  # trapezoid: ramp up, cruise, ramp down
        peak, t_ramp = speed, ramp
        total = far / speed + ramp
    else:  # triangle: reaches only sqrt(far * accel) at half way
        peak = math.sqrt(far * accel)
        t_ramp = peak / accel
        total = 2 * t_ramp

    def along(t: float) -> tuple[float, float]:
        """(distance, speed) of the farthest joint at time t."""
        if t <= t_ramp:
            return 0.5 * accel * t * t, accel * t
        if t <= total - t_ramp:
            return 0.5 * accel * t_ramp**2 + peak * (t - t_ramp), peak
        left = total - t
        return far - 0.5 * accel * left * left, accel * left

    count = max(1, math.ceil(total / step - 1e-9))
    times = [min(total, step * (k + 1)) for k in range(count)]
    times[-1] = total
    positions, velocities = [], []
    for t in times:
        s, v = along(t)
        positions.append(tuple(q0 + delta * (s / far)))
        velocities.append(tuple(delta * (v / far)))
    positions[-1] = tuple(goal)  # exactly home, at rest
    velocities[-1] = (0.0,) * len(joints)
    return Plan(joints, tuple(times), tuple(positions), tuple(velocities))


def not_homed(
    robot: RobotConfig,
    positions: Mapping[str, float],
    velocities: Mapping[str, float],
    homed_speed: float,
) -> list[str]:
    """The model joints not home yet (empty: homed): each must be within home_tolerance of home
    and slower than `homed_speed` (rad/s). Readings by vendor name."""
    late = []
    for m, v in robot.joints.items():
        q, dq = positions.get(v, math.nan), velocities.get(v, math.nan)
        if not (abs(q - robot.home[m]) <= robot.home_tolerance and abs(dq) <= homed_speed):
            late.append(f"{m} (at {q:.4f} rad, {dq:+.4f} rad/s; home {robot.home[m]})")
    return late


def homing_late(robot: RobotConfig, late: Sequence[str], seconds: float) -> str:
    """Why a homing failed at its deadline, naming the joints not home (`not_homed`)."""
    return (
        f"not homed within {seconds:.1f} s: {'; '.join(late)} not within "
        f"{robot.home_tolerance} rad of home and at rest"
    )


def check_command(values: Sequence[float], joints: Sequence[str]) -> str | None:
    """Why a graph command cannot be forwarded (None: it can)."""
    if len(values) != len(joints):
        return f"{len(values)} values for the {len(joints)} joints {list(joints)}"
    bad = [j for j, x in zip(joints, values, strict=True) if not math.isfinite(x)]
    if bad:
        return f"non-finite value(s) for {_names(bad)}"
    return None


@dataclass(frozen=True)
class Hold:
    """Why the arm holds: `rule` (what a change of reason is judged by), `text` (for a log)."""

    rule: str
    text: str


INACTIVE, HOMING, STALE = "inactive", "homing", "stale_state"
BAD_COMMAND, NO_COMMAND = "bad_command", "no_command"


def hold_reason(
    now: float,
    *,
    active: bool,
    homing: bool,
    state_at: float | None,
    command_at: float | None,
    command_error: str | None,
    state_timeout: float,
    command_timeout: float,
) -> Hold | None:
    """Whether the arm must hold now (None: graph commands may pass), first rule first: not
    active; joint_states stale (`state_at`, when the oldest joint's latest reading arrived, is
    older than state_timeout, or none came); homing (the trajectory controller has the arm); the
    latest command was bad; no command for command_timeout s (or none since activation).
    Times in s on one clock."""
    if not active:
        return Hold(INACTIVE, "the driver is not active")
    if state_at is None or now - state_at > state_timeout:
        return Hold(STALE, f"no {JOINT_STATES} of every joint for over {state_timeout} s")
    if homing:
        return Hold(HOMING, "homing: the trajectory controller has the arm")
    if command_error is not None:
        return Hold(BAD_COMMAND, f"refused command: {command_error}")
    if command_at is None:
        return Hold(NO_COMMAND, "no command yet (waiting for the graph's commands)")
    if now - command_at > command_timeout:
        return Hold(NO_COMMAND, f"no command for over {command_timeout} s (policy lost)")
    return None


class HoldLog:
    """Says when the hold reason changes (log once per change, not once per check)."""

    def __init__(self):
        self.rule: str | None = None

    def change(self, hold: Hold | None) -> str | None:
        """The line to log if `hold` changes the rule in force, else None."""
        rule = hold.rule if hold else None
        if rule == self.rule:
            return None
        self.rule = rule
        return f"holding (zero velocity): {hold.text}" if hold else "forwarding commands again"


def controller_missing(kind: str, name: str, topic: str, can_switch: bool) -> str:
    """Why configure fails when a controller's topic has no subscriber, and what to do.
    `can_switch`: controller_manager_msgs is importable here (a full ROS 2 install)."""
    how = (
        f"`ros2 run controller_manager spawner {name}` loads and activates it (`ros2 control "
        f"switch_controllers --activate {name}` activates a loaded one)"
    )
    how += "" if can_switch else ", where ROS 2's controller_manager is installed (no pip wheel)"
    return (
        f"no subscriber on {topic}: the {kind} controller {name!r} must be loaded and active in "
        f"the vendor's controller_manager; {how}"
    )
