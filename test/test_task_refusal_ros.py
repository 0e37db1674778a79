"""A robot that does not know the episode's task refuses the reset, and the skill policy stops
with the reason (exit 1) instead of asking again for ever (real processes over DDS)."""

from __future__ import annotations

from std_msgs.msg import Float64MultiArray

from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.processes import (
    Probe,
    fresh_domain,
    graph_params,
    log_text,
    start_node,
    stop,
)


def test_a_policy_whose_task_the_robot_refuses_stops_with_the_reason(tmp_path):
    config = tmp_path / "other_suite.yaml"
    # The same joints as the bridge's point mass, but a task its suite does not define.
    config.write_text("train:\n  suite: reach_transfer\n  tasks: [between]\n")
    domain = fresh_domain()
    probe = Probe(domain)
    # Stands in for the replay recorder: an explorer starts only once its records have a reader.
    probe.node.create_subscription(
        Float64MultiArray, f"/actor_0/{topics.STEP_RECORDS}", lambda _: None, topics.RECORDS
    )
    nodes = [
        start_node("sim_bridge", domain, tmp_path, "actor_0", {"suite": "reach"}),
        start_node("safety_gate", domain, tmp_path, "actor_0", graph_params("safety_gate")),
    ]
    policy = start_node(
        "skill_policy", domain, tmp_path, "actor_0", {"config": str(config), "actors": 0}
    )
    try:
        probe.spin_until(lambda: policy.poll() is not None, 60, "the policy to stop")
    finally:
        for p in [policy, *nodes]:
            stop(p)
        probe.close()
    assert policy.returncode == 1
    assert "unknown task 'between'" in log_text(policy), log_text(policy)[-2000:]
