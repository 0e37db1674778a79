"""The vendor's robot description as the graph sees it (ROS-free; the arm driver publishes it):
its limits by vendor name, and the URDF renamed and reordered to the robot config."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from skill_embedding_ros.control.joint_limits import JointLimit, limits_from_description
from skill_embedding_ros.robots.arm_link import LinkError, _names
from skill_embedding_ros.robots.ros2_control import RobotConfig, rename_joints


def graph_description(vendor_urdf: str, robot: RobotConfig) -> str:
    """The vendor's URDF as the graph must see it: the configured joints renamed to model names
    (joints, mimic references, transmissions, the <ros2_control> block) and first, in the robot
    config's order; every other movable joint made fixed. The safety gate commands the movable
    joints of its description in their order, and the driver reads commands in the config's: so
    the two agree by construction, and the gate takes the hardware's own limits by the graph's
    names. (A vendor URDF in another order, or with joints the graph does not command, a
    gripper's or a finger tip's, would otherwise shift every command onto the wrong joint.)"""
    try:
        root = ET.fromstring(vendor_urdf)
    except ET.ParseError as err:
        raise LinkError(f"the vendor's robot_description is not valid XML: {err}") from None
    if root.tag != "robot":
        raise LinkError(
            f"the vendor's robot_description is not a URDF (<{root.tag}>, not <robot>)"
        )
    rename = robot.model()
    joints = root.findall("joint")
    kept = {j.get("name") for j in joints} - set(rename)
    clash = sorted(set(rename.values()) & kept)
    if clash:
        raise LinkError(
            f"model joint name(s) {_names(clash)} are also names of other vendor joints: rename "
            "the model joints or map those vendor joints in `joints`"
        )
    by_name = {j.get("name"): j for j in joints}
    for joint in joints:
        root.remove(joint)
    for vendor in robot.joints.values():  # check_joints made sure each is described
        if vendor in by_name:
            root.append(by_name[vendor])
    for joint in joints:
        if joint.get("name") not in rename:
            if joint.get("type") not in ("fixed", "floating", "planar"):
                joint.set("type", "fixed")  # not the graph's to command
            root.append(joint)
    rename_joints(root, rename)
    return ET.tostring(root, encoding="unicode")


def described_limits(vendor_urdf: str) -> dict[str, JointLimit]:
    """The vendor description's limits by vendor joint name (movable joints only)."""
    try:
        return limits_from_description(vendor_urdf)[0]
    except ValueError as err:
        raise LinkError(f"the vendor's robot_description: {err}") from None
