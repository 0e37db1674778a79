"""The scene markers node draws what an operator needs beside the robot model: each object at its
latest pose, the gate's mode in its level's colour, the trial manager's question, the bench box."""

from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from visualization_msgs.msg import Marker, MarkerArray

from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.processes import Probe, fresh_domain, log_text, start_node, stop
from skill_embedding_ros.ros.scene_markers import LEVEL_COLOURS, box_edges


def test_box_edges_are_the_twelve_edges_of_the_box():
    points = box_edges((0.0, 1.0, 0.0, 2.0, 0.0, 3.0))
    assert len(points) == 24
    for a, b in zip(points[::2], points[1::2], strict=True):
        lengths = sorted(abs(u - v) for u, v in ((a.x, b.x), (a.y, b.y), (a.z, b.z)))
        assert lengths[:2] == [0.0, 0.0] and lengths[2] in (1.0, 2.0, 3.0)


def test_markers_show_objects_gate_trial_and_bench(tmp_path):
    domain = fresh_domain()
    params = {"objects": ["block", "goal"], "workspace": [0.3, 0.7, -0.3, 0.3, 0.0, 0.3]}
    node = start_node("scene_markers", domain, tmp_path, "arm", params)
    probe = Probe(domain)
    got: list[MarkerArray] = []
    try:
        n = probe.node
        n.create_subscription(MarkerArray, "/arm/markers", got.append, topics.RELIABLE)
        pose = n.create_publisher(PoseStamped, "/arm/objects/block/pose", topics.RELIABLE)
        gate = n.create_publisher(DiagnosticStatus, "/arm/" + topics.GATE_STATE, topics.LATCHED)
        trial = n.create_publisher(DiagnosticStatus, "/arm/" + topics.TRIAL_STATE, topics.LATCHED)
        probe.spin_until(lambda: pose.get_subscription_count() > 0, 20.0, "the node")
        block = PoseStamped()
        block.pose.position.x, block.pose.position.y = 0.5, -0.1
        pose.publish(block)
        values = [KeyValue(key="mode", value="estop"), KeyValue(key="teleop", value="stop")]
        gate.publish(DiagnosticStatus(level=DiagnosticStatus.ERROR, values=values))
        trial.publish(DiagnosticStatus(message="trial 1/3: arm homed; reset the scene"))

        def complete() -> bool:
            return bool(got) and {m.ns for m in got[-1].markers} == {
                "objects", "object_names", "status", "workspace"
            }  # fmt: skip

        probe.spin_until(complete, 10.0, "every kind of marker")
    finally:
        probe.close()
        code = stop(node)
    assert code == 0, log_text(node)
    markers = {(m.ns, m.id): m for m in got[-1].markers}
    sphere = markers[("objects", 0)]  # the block; the goal has no pose yet: not drawn
    assert sphere.type == Marker.SPHERE and sphere.pose.position.x == 0.5
    assert ("objects", 1) not in markers and markers[("object_names", 0)].text == "block"
    status = markers[("status", 0)]
    assert status.text == "gate: estop, stop commands"
    rgb = (status.color.r, status.color.g, status.color.b)
    assert rgb == pytest.approx(LEVEL_COLOURS[DiagnosticStatus.ERROR])  # red
    assert markers[("status", 1)].text == "trial 1/3: arm homed; reset the scene"
    assert len(markers[("workspace", 0)].points) == 24
    assert all(m.header.frame_id == "world" for m in got[-1].markers)
