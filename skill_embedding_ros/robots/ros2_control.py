"""A robot under ros2_control, as the graph sees it from outside (ROS-free): the standard topics
of its controllers, and the per-robot config (config/robots/<robot>.yaml) that names its joints,
its controllers and its home pose.

The topics need no ros2_control message package (control_msgs and controller_manager_msgs have
no pip wheels): the joint_state_broadcaster publishes sensor_msgs/JointState on `/joint_states`
(any rate, its own joint order, maybe extra joints); a forward command controller takes
std_msgs/Float64MultiArray on `/<name>/commands`, one value per joint of its `joints` parameter,
in that order; a joint_trajectory_controller takes trajectory_msgs/JointTrajectory on
`/<name>/joint_trajectory`. The arm driver (ros/arm_driver.py) speaks to them and the hardware
emulator (ros/arm_emulator.py) serves them, both from one `RobotConfig`, so they agree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from skill_embedding_ros.paths import data_dir

ROBOT_DIR = data_dir("config") / "robots"
JOINT_STATES = "/joint_states"
"""What the joint_state_broadcaster publishes (sensor_msgs/JointState)."""
ROBOT_DESCRIPTION = "/robot_description"
"""The vendor's URDF with its joint names (std_msgs/String, latched: robot_state_publisher)."""


def commands_topic(controller: str) -> str:
    """A forward command controller's input (std_msgs/Float64MultiArray)."""
    return f"/{controller}/commands"


def trajectory_topic(controller: str) -> str:
    """A joint_trajectory_controller's topic input (trajectory_msgs/JointTrajectory)."""
    return f"/{controller}/joint_trajectory"


@dataclass(frozen=True)
class Controller:
    name: str
    joints: tuple[str, ...]
    """Vendor joint names, in the order of the values the controller takes."""


@dataclass(frozen=True)
class RobotConfig:
    suite: str
    """The task suite whose model this robot is (its joints, limits and observations)."""
    joints: Mapping[str, str]
    """Model joint name -> vendor joint name, in the suite's command order."""
    broadcast_order: tuple[str, ...]
    """Vendor names in the order the joint_state_broadcaster publishes them."""
    velocity: Controller
    trajectory: Controller
    home: Mapping[str, float]
    """Model joint name -> home angle (rad)."""
    homing_speed: float
    """rad/s: no joint moves faster while homing."""
    home_tolerance: float
    """rad: a joint this close to home is homed."""

    def vendor(self, model_joints) -> list[str]:
        """The vendor names of `model_joints`."""
        return [self.joints[j] for j in model_joints]

    def model(self) -> dict[str, str]:
        """Vendor joint name -> model joint name."""
        return {v: m for m, v in self.joints.items()}


def robot_path(name: str) -> Path:
    """A robot config by name (config/robots/<name>.yaml) or path."""
    path = Path(name).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return ROBOT_DIR / f"{name}.yaml"


def load_robot(name: str) -> RobotConfig:
    """Read and check a robot config; a ValueError names what is wrong and where."""
    path = robot_path(name)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        known = ", ".join(sorted(p.stem for p in ROBOT_DIR.glob("*.yaml")))
        raise ValueError(f"robot config {path}: {err.strerror} (robots here: {known})") from None
    except yaml.YAMLError as err:
        raise ValueError(f"robot config {path} is not valid YAML: {err}") from None
    return parse_robot(raw, str(path))


def parse_robot(raw, where: str) -> RobotConfig:
    """A RobotConfig from parsed YAML, each key checked."""

    def need(cond: bool, what: str) -> None:
        if not cond:
            raise ValueError(f"robot config {where}: {what}")

    need(isinstance(raw, dict), "must be a mapping (suite, joints, controllers, home, ...)")
    keys = {"suite", "joints", "broadcast_order", "controllers", "home", "homing_speed",
            "home_tolerance"}  # fmt: skip
    need(not set(raw) - keys, f"unknown key(s) {sorted(set(raw) - keys)}; allowed {sorted(keys)}")
    need(not keys - set(raw), f"missing key(s) {sorted(keys - set(raw))}")
    joints = raw["joints"]
    need(
        isinstance(joints, dict) and joints and all(isinstance(v, str) for v in joints.values()),
        "joints must map each model joint name to its vendor name",
    )
    need(len(set(joints.values())) == len(joints), "two model joints share a vendor name")
    vendor = set(joints.values())

    def vendor_list(value, what: str) -> tuple[str, ...]:
        need(isinstance(value, list), f"{what} must be a list of vendor joint names")
        unknown = [v for v in value if v not in vendor]
        need(not unknown, f"{what} names {unknown}, not among joints' vendor names")
        need(len(set(value)) == len(value), f"{what} names a joint twice")
        return tuple(value)

    controllers = raw["controllers"]
    need(
        isinstance(controllers, dict) and set(controllers) == {"velocity", "trajectory"},
        "controllers must have exactly `velocity` and `trajectory`",
    )
    made = {}
    for kind, spec in controllers.items():
        need(isinstance(spec, dict) and set(spec) == {"name", "joints"},
             f"controllers.{kind} must have `name` and `joints`")  # fmt: skip
        need(isinstance(spec["name"], str) and spec["name"], f"controllers.{kind}.name is empty")
        made[kind] = Controller(spec["name"], vendor_list(spec["joints"], f"controllers.{kind}"))
        need(set(made[kind].joints) == vendor, f"controllers.{kind} must command every joint")
    home = raw["home"]
    need(isinstance(home, dict) and set(home) == set(joints), "home must give every model joint")
    need(all(isinstance(v, int | float) for v in home.values()), "home angles must be numbers")
    for key in ("homing_speed", "home_tolerance"):
        value = raw[key]
        need(isinstance(value, int | float) and value > 0, f"{key} must be a positive number")
    return RobotConfig(
        suite=str(raw["suite"]),
        joints=dict(joints),
        broadcast_order=vendor_list(raw["broadcast_order"], "broadcast_order"),
        velocity=made["velocity"],
        trajectory=made["trajectory"],
        home={k: float(v) for k, v in home.items()},
        homing_speed=float(raw["homing_speed"]),
        home_tolerance=float(raw["home_tolerance"]),
    )


def rename_joints(root: ET.Element, names: Mapping[str, str]) -> set[str]:
    """Rename the joints of a URDF tree in place by `names` (old -> new): every <joint name>
    (the robot's, a transmission's, the <ros2_control> block's) and every `joint` reference (a
    mimic's). Returns the old names found. Links keep their names. The hardware emulator names
    the model's joints as the vendor does; the arm driver names the vendor's as the model does."""
    found = set()
    for element in root.iter():
        key = "name" if element.tag == "joint" else "joint"
        if element.get(key) in names:
            found.add(element.get(key))
            element.set(key, names[element.get(key)])
    return found
