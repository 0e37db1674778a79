"""Teleop mappings: which sensor_msgs/Joy button plays which role, and which axes drive which
joint (config/teleop/<name>.yaml; docs/teleop.md).

    buttons:            # role -> Joy button index
      deadman: 4
      intervene: 5
      estop: 7
      confirm: 0
      success: 1
      failure: 2
      abort: 3
    axes:               # joint -> axis index and scale (share of the joint's velocity limit)
      joint_1: {axis: 0, scale: 0.5}
      finger_1: [{axis: 5, scale: -0.25, rest: 1.0}, {axis: 2, scale: 0.25, rest: 1.0}]
    timeout: 0.5        # s: a Joy older than this counts as every button released, axes zero

A joint's speed, as a share of its velocity limit, is the sum over its terms of (axis value -
rest) * scale, clipped to [-1, 1]; `rest` (default 0) is the axis' value when untouched (an Xbox
trigger under the `joy` node rests at 1.0 and reads -1.0 fully pressed), so one trigger can close
a gripper and the other open it. Every role and joint is optional: the safety gate needs a
`deadman` button only with its `deadman` parameter, `intervene` for takeovers, `estop` for the
button e-stop; a trial manager reads confirm, success, failure and abort.

Pure: no ROS. Errors are one-line ValueErrors naming the file and what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from skill_embedding_ros.paths import data_dir

GATE_ROLES = ("deadman", "intervene", "estop")
"""Buttons the safety gate reads."""
TRIAL_ROLES = ("confirm", "success", "failure", "abort")
"""Buttons a trial manager reads."""
ROLES = GATE_ROLES + TRIAL_ROLES
SHARED = frozenset({frozenset({"deadman", "confirm"})})
"""Roles that may share a button: pressing the deadman to start a trial is the same act as
holding it to let the policy run. Any other pair is ambiguous (an e-stop that also confirms; a
success that is also a failure; a deadman that takes over) and refused."""
DEFAULT_TIMEOUT = 0.5
"""s: a Joy older than this counts as released (the `joy` node repeats its state at 20 Hz)."""


@dataclass(frozen=True)
class AxisTerm:
    """One axis' share in a joint's speed: (value - rest) * scale."""

    axis: int
    scale: float
    rest: float = 0.0


@dataclass(frozen=True)
class TeleopMapping:
    buttons: dict[str, int] = field(default_factory=dict)
    """Role -> Joy button index."""
    axes: dict[str, tuple[AxisTerm, ...]] = field(default_factory=dict)
    """Joint name -> the axis terms whose sum is its speed, a share of its velocity limit."""
    timeout: float = DEFAULT_TIMEOUT
    """s: a Joy older than this counts as every button released and every axis at rest."""
    source: str = ""
    """The file it came from (for messages)."""

    def pressed(self, joy_buttons: Sequence[int], role: str) -> bool:
        """Whether `role`'s button is pressed in a Joy's buttons; False for a role without a
        button and for an index beyond the message's buttons."""
        index = self.buttons.get(role)
        return index is not None and index < len(joy_buttons) and bool(joy_buttons[index])

    def shares(self, joints: Sequence[str], joy_axes: Sequence[float]) -> list[float]:
        """Each joint's speed as a share of its velocity limit, in [-1, 1], from a Joy's axes:
        0 for a joint without axes; an axis beyond the message or not finite counts as at rest."""
        out = []
        for joint in joints:
            total = 0.0
            for term in self.axes.get(joint, ()):
                value = joy_axes[term.axis] if term.axis < len(joy_axes) else term.rest
                value = value if math.isfinite(value) else term.rest
                total += (max(-1.0, min(1.0, value)) - term.rest) * term.scale
            out.append(max(-1.0, min(1.0, total)))
        return out

    @property
    def axis_count(self) -> int:
        """Axes a Joy needs for this mapping."""
        return 1 + max((t.axis for terms in self.axes.values() for t in terms), default=-1)

    @property
    def button_count(self) -> int:
        """Buttons a Joy needs for this mapping."""
        return 1 + max(self.buttons.values(), default=-1)

    def check_joints(self, joints: Sequence[str]) -> None:
        """ValueError if an axis drives a joint the robot does not have."""
        unknown = sorted(set(self.axes) - set(joints))
        if unknown:
            raise ValueError(
                f"teleop mapping {self.source}: axes for joint(s) {unknown} that the robot does "
                f"not have (its joints: {list(joints)}); fix `axes` or pick the robot's mapping"
            )


def mapping_path(name_or_path: str) -> Path:
    """A mapping's file: a path as given (one ending in .yaml or naming a folder), else
    config/teleop/<name>.yaml."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        return path
    return data_dir("config") / "teleop" / f"{name_or_path}.yaml"


def load_mapping(name_or_path: str) -> TeleopMapping:
    """The mapping named (config/teleop/<name>.yaml) or at a path; ValueError if it is bad."""
    path = mapping_path(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        shipped = sorted(p.stem for p in (data_dir("config") / "teleop").glob("*.yaml"))
        raise ValueError(
            f"teleop mapping {name_or_path!r}: no file {path} (shipped mappings: {shipped})"
        ) from None
    except (OSError, yaml.YAMLError) as err:
        message = " ".join(str(err).split())
        raise ValueError(f"teleop mapping {path}: cannot read it: {message}") from None
    return parse_mapping(raw, str(path))


def parse_mapping(raw, source: str = "<mapping>") -> TeleopMapping:
    """A mapping from its YAML content (see the module docstring); ValueError if it is bad."""
    where = f"teleop mapping {source}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping with buttons, axes, timeout; got {raw!r}")
    unknown = sorted(set(raw) - {"buttons", "axes", "timeout"})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid: axes, buttons, timeout")
    buttons = _buttons(raw.get("buttons") or {}, where)
    axes = {
        str(joint): _terms(spec, f"{where}: axes.{joint}")
        for joint, spec in _section(raw.get("axes") or {}, where, "axes").items()
    }
    timeout = raw.get("timeout", DEFAULT_TIMEOUT)
    if not _number(timeout) or not 0 < timeout < math.inf:
        raise ValueError(f"{where}: timeout must be a positive number of seconds, got {timeout!r}")
    return TeleopMapping(buttons, axes, float(timeout), source)


def _section(value, where: str, name: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: {name} must be a mapping, got {value!r}")
    return value


def _buttons(raw, where: str) -> dict[str, int]:
    buttons = {}
    for role, index in _section(raw, where, "buttons").items():
        if role not in ROLES:
            raise ValueError(f"{where}: unknown button role {role!r}; roles: {', '.join(ROLES)}")
        if not _index(index):
            raise ValueError(f"{where}: buttons.{role} must be a button index >= 0, got {index!r}")
        for other, taken in buttons.items():
            if taken == index and frozenset({role, other}) not in SHARED:
                raise ValueError(
                    f"{where}: buttons {other} and {role} are both button {index}, which is "
                    "ambiguous; give each its own button"
                )
        buttons[role] = index
    return buttons


def _terms(spec, where: str) -> tuple[AxisTerm, ...]:
    specs = spec if isinstance(spec, list) else [spec]
    terms = []
    for item in specs:
        if not isinstance(item, dict) or not set(item) >= {"axis", "scale"}:
            raise ValueError(f"{where} must be {{axis: INDEX, scale: SHARE}}, got {spec!r}")
        extra = sorted(set(item) - {"axis", "scale", "rest"})
        if extra:
            raise ValueError(f"{where}: unknown key(s) {extra}; valid: axis, scale, rest")
        axis, scale, rest = item["axis"], item["scale"], item.get("rest", 0.0)
        if not _index(axis):
            raise ValueError(f"{where}: axis must be an axis index >= 0, got {axis!r}")
        if not _number(scale) or not 0 < abs(scale) <= 1:
            raise ValueError(
                f"{where}: scale must be a share of the velocity limit in [-1, 1], not 0; "
                f"got {scale!r}"
            )
        if not _number(rest) or not -1 <= rest <= 1:
            raise ValueError(f"{where}: rest must be an axis value in [-1, 1], got {rest!r}")
        terms.append(AxisTerm(axis, float(scale), float(rest)))
    return tuple(terms)


def _index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value) -> bool:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return ok and math.isfinite(value)
