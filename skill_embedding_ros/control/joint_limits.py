"""Per-joint limits, by name, from the robot description: the one source of the gate's limits.

A robot description is a URDF (`<joint>` with `<limit lower upper velocity effort>` and
`<dynamics damping>`) or an MJCF (joint `range`, `damping`, `actuatorfrcrange`, the joint's inertia
with its armature, a speed limit stated as custom data (`SPEED_NUMERIC`), and from each joint's
actuator: its command range, its force range and, for a velocity servo, how long the joint lags
its command). Whatever reads limits (the safety gate, bag alignment, a driver) reads them here,
by joint name, never by position in an array; a graph may override single values by name
(`apply_overrides`).
"""

from __future__ import annotations

import dataclasses
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

INF = math.inf
SPEED_NUMERIC = "velocity:"
"""An MJCF `<custom><numeric name="velocity:JOINT" data="SPEED"/>` states JOINT's speed limit
(m/s or rad/s), e.g. for a joint a motor drives; with a velocity servo too, the lower holds."""


@dataclass(frozen=True)
class JointLimit:
    """One joint's limits, in its own units (m, m/s, N for a slide; rad, rad/s, N m for a hinge).
    A missing limit is infinite (a continuous joint has no position limits)."""

    lower: float = -INF
    upper: float = INF
    velocity: float = INF
    """Largest speed a command may ask for."""
    effort: float = INF
    """Largest force or torque (at the joint) a command may ask for."""
    lag: float = 0.0
    """Time constant (s) of the joint's velocity loop: it coasts lag * v once its command drops."""
    inertia: float = 0.0
    """Mass or moment of inertia (kg or kg m^2, armature included) an effort at the joint moves;
    0: not described (a URDF describes links, not what each joint moves)."""
    damping: float = 0.0
    """Viscous damping (N s/m or N m s/rad) that slows the joint when no effort drives it; 0: none
    described."""

    def __post_init__(self):
        values = dataclasses.astuple(self)
        if any(math.isnan(v) for v in values):
            raise ValueError(f"a joint limit is NaN: {self}")
        if not self.lower < self.upper:
            raise ValueError(f"lower ({self.lower}) must be < upper ({self.upper})")
        if self.velocity <= 0 or self.effort <= 0 or min(self.lag, self.inertia, self.damping) < 0:
            raise ValueError(
                f"velocity and effort must be > 0, lag, inertia and damping >= 0: {self}"
            )


OVERRIDABLE = tuple(f.name for f in dataclasses.fields(JointLimit))


def limits_from_description(text: str) -> tuple[dict[str, JointLimit], list[str]]:
    """(limits by joint name, the commanded joints in command order) of a URDF or MJCF string.
    Commanded joints: a URDF's movable joints in document order, an MJCF's actuated joints in
    actuator order (the order its `ctrl` takes them in)."""
    head = text.lstrip()[:4096]
    if "<robot" in head:
        return _from_urdf(text)
    if "<mujoco" in head:
        return _from_mjcf(text)
    raise ValueError("robot description is neither a URDF (<robot>) nor an MJCF (<mujoco>)")


def _from_urdf(text: str) -> tuple[dict[str, JointLimit], list[str]]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise ValueError(f"robot description is not valid XML: {err}") from None
    limits, order = {}, []
    # The robot's own joints only: <ros2_control> and <transmission> blocks name joints too,
    # without a type or limits (a ros2_control robot_description always has such a block).
    for joint in root.findall("joint"):
        kind, name = joint.get("type"), joint.get("name")
        if kind in ("fixed", "floating", "planar") or joint.find("mimic") is not None:
            continue
        limit = joint.find("limit")
        values = {}
        dynamics = joint.find("dynamics")
        if dynamics is not None and dynamics.get("damping") is not None:
            values["damping"] = float(dynamics.get("damping"))
        if limit is not None:
            for key, field in (("velocity", "velocity"), ("effort", "effort")):
                if limit.get(key) is not None:
                    values[field] = float(limit.get(key))
            if kind != "continuous":
                values["lower"] = float(limit.get("lower", 0.0))
                values["upper"] = float(limit.get("upper", 0.0))
        limits[name] = _checked(name, values)
        order.append(name)
    return limits, order


def _from_mjcf(text: str) -> tuple[dict[str, JointLimit], list[str]]:
    import mujoco  # a robot described in MJCF is simulated with MuJoCo anyway

    try:
        model = mujoco.MjModel.from_xml_string(text)
    except ValueError as err:
        raise ValueError(f"robot description (MJCF) does not compile: {err}") from None
    values: dict[str, dict] = {}
    for j in range(model.njnt):
        if int(model.jnt_type[j]) not in (
            int(mujoco.mjtJoint.mjJNT_SLIDE),
            int(mujoco.mjtJoint.mjJNT_HINGE),
        ):
            continue
        entry = values.setdefault(model.joint(j).name, {})
        if model.jnt_limited[j]:
            entry["lower"], entry["upper"] = (float(v) for v in model.jnt_range[j])
        dof = model.jnt_dofadr[j]
        # The diagonal of the mass matrix at qpos0, armature included: what an effort at this
        # joint accelerates (constant for decoupled joints; docs/safety.md, torque interface).
        entry["inertia"] = float(model.dof_M0[dof])
        entry["damping"] = float(model.dof_damping[dof])
        if model.jnt_actfrclimited[j]:  # a clamp on the sum of the actuators' forces at the joint
            entry["effort"] = float(max(abs(v) for v in model.jnt_actfrcrange[j]))
    order = []
    for a in range(model.nu):
        if int(model.actuator_trntype[a]) != int(mujoco.mjtTrn.mjTRN_JOINT):
            continue
        j = model.actuator_trnid[a, 0]
        name = model.joint(j).name
        entry = values.setdefault(name, {})
        order.append(name)
        low, high = model.actuator_ctrlrange[a]
        limited = model.actuator_ctrllimited[a]
        gear = abs(model.actuator_gear[a, 0])
        bias = model.actuator_biasprm[a]
        # Efforts at the joint: the actuator's force times its gear; the tightest clamp holds
        # (one actuator per joint, as the gate commands one value per joint).
        efforts = [entry.get("effort", INF)]
        if model.actuator_forcelimited[a]:
            efforts.append(max(abs(v) for v in model.actuator_forcerange[a]) * gear)
        motor = int(model.actuator_biastype[a]) == int(mujoco.mjtBias.mjBIAS_NONE)
        if motor and limited:
            efforts.append(max(abs(low), abs(high)) * abs(model.actuator_gainprm[a, 0]) * gear)
        if min(efforts) < INF:
            entry["effort"] = float(min(efforts))
        if not motor and bias[1] == 0 and bias[2] < 0:  # a velocity servo: ctrl is a velocity
            if limited:
                entry["velocity"] = float(max(abs(low), abs(high)))
            kv = -bias[2] * gear
            entry["lag"] = float(model.dof_M0[model.jnt_dofadr[j]] / kv)
    # MJCF has no joint speed limit; a motor-driven joint states its own as custom data.
    for n in range(model.nnumeric):
        name = model.numeric(n).name
        if not name.startswith(SPEED_NUMERIC):
            continue
        joint = name[len(SPEED_NUMERIC) :]
        if joint not in values:
            raise ValueError(f"numeric {name!r} gives a speed limit to no hinge or slide joint")
        speed = float(model.numeric_data[model.numeric_adr[n]])
        values[joint]["velocity"] = min(values[joint].get("velocity", INF), speed)
    return {name: _checked(name, v) for name, v in values.items()}, order


def _checked(name: str, values: Mapping) -> JointLimit:
    try:
        return JointLimit(**values)
    except ValueError as err:
        raise ValueError(f"joint {name!r}: {err}") from None


def apply_overrides(limits: Mapping[str, JointLimit], text: str) -> dict[str, JointLimit]:
    """`limits` with values replaced by name from `text`, a YAML mapping such as
    `{x: {upper: 1.0}, y: {velocity: 0.5}}` (a graph's or an operator's tighter limits)."""
    limits = dict(limits)
    if not text.strip():
        return limits
    try:
        overrides = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"limits is not valid YAML: {err}") from None
    if not isinstance(overrides, dict):
        raise ValueError(f"limits must map joint names to limits, got {overrides!r}")
    unknown = sorted(set(map(str, overrides)) - set(limits))
    if unknown:
        raise ValueError(f"limits names unknown joints {unknown}; joints: {sorted(limits)}")
    for name, values in overrides.items():
        if not isinstance(values, dict) or set(values) - set(OVERRIDABLE):
            raise ValueError(f"limits of {name!r} must set only {list(OVERRIDABLE)}: {values!r}")
        try:
            values = {k: float(v) for k, v in values.items()}
        except (TypeError, ValueError):
            raise ValueError(f"limits of {name!r} must be numbers: {values!r}") from None
        limits[name] = _checked(name, {**dataclasses.asdict(limits[name]), **values})
    return limits


def select(limits: Mapping[str, JointLimit], joints: Sequence[str]) -> list[JointLimit]:
    """The limits of `joints`, in that order; a ValueError names any joint not described."""
    missing = [j for j in joints if j not in limits]
    if missing:
        raise ValueError(f"joints {missing} are not in the robot description ({sorted(limits)})")
    return [limits[j] for j in joints]


def commanded_limits(
    description: str, joints: Sequence[str] = (), overrides: str = ""
) -> tuple[list[str], list[JointLimit]]:
    """The commanded joints (`joints`, or the description's own order when empty) and their
    limits from a robot description (URDF or MJCF text) with `overrides` applied by name."""
    limits, order = limits_from_description(description)
    limits = apply_overrides(limits, overrides)
    joints = list(joints) or order
    if not joints:
        raise ValueError("the robot description commands no joints and none are named")
    return joints, select(limits, joints)
