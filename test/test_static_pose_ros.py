"""The static pose node stamps a fixed object's pose like the robot's joint states (every
`every` s of them), so the policy's state sync finds a pose within tolerance of every state."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import JointState

from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import pose_tuple, stamp_ns, to_stamp
from skill_embedding_ros.ros.processes import Probe, fresh_domain, log_text, start_node, stop


def test_a_fixed_pose_follows_the_joint_state_stamps(tmp_path):
    domain = fresh_domain()
    params = {"object": "goal", "position": [0.1, -0.2, 0.3], "every": 0.01}
    node = start_node("static_pose", domain, tmp_path, "arm", params)
    probe = Probe(domain)
    poses: list[PoseStamped] = []
    try:
        probe.node.create_subscription(
            PoseStamped, "/arm/objects/goal/pose", poses.append, topics.RELIABLE
        )
        states = probe.node.create_publisher(JointState, "/arm/joint_states", topics.RELIABLE)
        probe.spin_until(lambda: states.get_subscription_count() > 0, 20.0, "the node")
        stamps = [5_000_000_000 + k * 2_000_000 for k in range(200)]  # 500 Hz for 0.4 s
        for ns in stamps:
            msg = JointState(name=["joint_1"], position=[0.0])
            msg.header.stamp = to_stamp(ns)
            states.publish(msg)
            probe.spin_for(0.001)
        probe.spin_until(lambda: stamp_ns(poses[-1].header.stamp) >= stamps[-10], 5.0, "poses")
    finally:
        probe.close()
        code = stop(node)
    assert code == 0, log_text(node)
    got = [stamp_ns(p.header.stamp) for p in poses]
    assert set(got) <= set(stamps), "a pose stamped at no joint state's time"
    gaps = np.diff(got)
    assert gaps.min() >= 10_000_000 and gaps.max() <= 12_000_000, gaps
    position, quaternion = pose_tuple(poses[-1].pose)
    assert np.allclose(position, [0.1, -0.2, 0.3]) and np.allclose(quaternion, [1, 0, 0, 0])
    assert poses[-1].header.frame_id == "world"
