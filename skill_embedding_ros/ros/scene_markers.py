"""Scene markers node: what the operator should see beside the robot model in RViz or Foxglove
(`visualization_msgs/MarkerArray` on `markers`, in the node's namespace): each object where its
latest pose puts it, the safety gate's mode and who commands (green: forwarding, yellow: holding
for a reason, red: e-stop), the trial manager's question for the operator, and the bench area.

The arm itself is `robot_description` (the arm driver's, with the model's joint names) and
`joint_states`, which RViz's RobotModel and Foxglove's URDF panel show through a
robot_state_publisher's TF (a ROS 2 install's; the vendor stack runs one).
"""

from __future__ import annotations

import sys

from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import Point, PoseStamped
from rclpy.node import Node
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.settings.markers import MarkersConfig

LEVEL_COLOURS = {
    DiagnosticStatus.OK: (0.2, 0.8, 0.2),
    DiagnosticStatus.WARN: (0.95, 0.75, 0.1),
    DiagnosticStatus.ERROR: (0.9, 0.1, 0.1),
}


def box_edges(workspace) -> list[Point]:
    """The 12 edges of an axis-aligned box (x0 x1 y0 y1 z0 z1) as a LINE_LIST's point pairs."""
    x0, x1, y0, y1, z0, z1 = workspace
    corners = [(x, y, z) for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)]
    points = []
    for i, a in enumerate(corners):
        for b in corners[i + 1 :]:
            if sum(p != q for p, q in zip(a, b, strict=True)) == 1:  # differ in one axis
                points += [Point(x=a[0], y=a[1], z=a[2]), Point(x=b[0], y=b[1], z=b[2])]
    return points


class SceneMarkers(Node):
    def __init__(self):
        super().__init__("scene_markers")
        self.cfg = cfg = declare(self, MarkersConfig)
        self.poses: dict[str, PoseStamped] = {}
        self.gate: DiagnosticStatus | None = None
        self.trial: DiagnosticStatus | None = None
        for name in cfg.objects:
            self.create_subscription(
                PoseStamped, topics.object_pose_topic(name),
                lambda msg, name=name: self.poses.__setitem__(name, msg), topics.RELIABLE,
            )  # fmt: skip
        self.create_subscription(
            DiagnosticStatus, topics.GATE_STATE, lambda m: setattr(self, "gate", m), topics.LATCHED
        )
        self.create_subscription(
            DiagnosticStatus, topics.TRIAL_STATE, lambda m: setattr(self, "trial", m),
            topics.LATCHED,
        )  # fmt: skip
        self.pub = self.create_publisher(MarkerArray, topics.MARKERS, topics.RELIABLE)
        self.create_timer(1.0 / cfg.rate, self.publish)

    def _marker(self, ns: str, index: int, kind: int, rgb, alpha: float = 1.0) -> Marker:
        m = Marker(ns=ns, id=index, type=kind, action=Marker.ADD)
        m.header.frame_id = self.cfg.frame_id
        m.header.stamp = self.get_clock().now().to_msg()
        m.color = ColorRGBA(r=rgb[0], g=rgb[1], b=rgb[2], a=alpha)
        m.pose.orientation.w = 1.0
        return m

    def publish(self) -> None:
        markers = []
        size = self.cfg.object_size
        for i, name in enumerate(self.cfg.objects):
            if name not in self.poses:
                continue
            sphere = self._marker("objects", i, Marker.SPHERE, (0.2, 0.4, 0.9), 0.8)
            sphere.pose = self.poses[name].pose
            sphere.scale.x = sphere.scale.y = sphere.scale.z = size
            label = self._marker("object_names", i, Marker.TEXT_VIEW_FACING, (1.0, 1.0, 1.0))
            label.pose.position = self.poses[name].pose.position
            label.pose.position.z += size
            label.text, label.scale.z = name, 0.03
            markers += [sphere, label]
        lines = []
        if self.gate is not None:
            values = {kv.key: kv.value for kv in self.gate.values}
            who = f", {values['teleop']} commands" if "teleop" in values else ""
            lines.append((f"gate: {values.get('mode', '?')}{who}", self.gate.level))
        if self.trial is not None:
            lines.append((self.trial.message, DiagnosticStatus.OK))
        for i, (line, level) in enumerate(lines):
            text = self._marker("status", i, Marker.TEXT_VIEW_FACING, LEVEL_COLOURS.get(level))
            text.pose.position.z = 1.0 - 0.06 * i
            text.text, text.scale.z = line, 0.05
            markers.append(text)
        if self.cfg.workspace:
            box = self._marker("workspace", 0, Marker.LINE_LIST, (0.7, 0.7, 0.7), 0.6)
            box.points, box.scale.x = box_edges(self.cfg.workspace), 0.003
            markers.append(box)
        self.pub.publish(MarkerArray(markers=markers))


def main(args=None):
    return spin(SceneMarkers, args)


if __name__ == "__main__":
    sys.exit(main())
