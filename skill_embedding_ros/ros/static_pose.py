"""Static pose node: an object that does not move (a goal marker on the bench, a fixture) as a
pose stream the skill policy can synchronise with the robot's state.

The policy takes a state only when every object has a pose stamped within a quarter period of
the joint state (control/state_sync.py), so a pose published once, or on the wall clock, would
never match. This node stamps the fixed pose with the robot's own joint_states stamps (every
`every` s of them): for an object at rest, that is exactly its pose at that instant. Move the
object and you must restart the node with its new pose: it has no way to know.
"""

from __future__ import annotations

import sys

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState

from skill_embedding_ros.control.joint_states import passes
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import stamp_ns
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.settings.perception import StaticPoseConfig


class StaticPose(Node):
    def __init__(self):
        super().__init__("static_pose")
        cfg = self.cfg = declare(self, StaticPoseConfig)
        self.pose = PoseStamped()
        self.pose.header.frame_id = cfg.frame_id
        p, q = self.pose.pose.position, self.pose.pose.orientation
        p.x, p.y, p.z = cfg.position
        q.w, q.x, q.y, q.z = cfg.orientation
        self.every_ns = round(cfg.every * 1e9)
        self.last_ns: int | None = None
        topic = topics.object_pose_topic(cfg.object)
        self.pub = self.create_publisher(PoseStamped, topic, topics.RELIABLE)
        self.create_subscription(JointState, topics.JOINT_STATES, self.on_state, topics.RELIABLE)
        self.get_logger().info(
            f"{self.resolve_topic_name(topic)}: {cfg.position} m, {cfg.orientation} in "
            f"{cfg.frame_id}, stamped like {self.resolve_topic_name(topics.JOINT_STATES)}"
        )

    def on_state(self, msg: JointState) -> None:
        stamp = stamp_ns(msg.header.stamp)
        if not passes(stamp, self.last_ns, self.every_ns):
            return
        self.last_ns = stamp
        self.pose.header.stamp = msg.header.stamp
        self.pub.publish(self.pose)


def main(args=None):
    return spin(StaticPose, args)


if __name__ == "__main__":
    sys.exit(main())
