"""How a graph ends when its nodes exit (launch/graph_exit.py), the rule the pip launcher and the
ROS 2 launch files share."""

from skill_embedding_ros.launch.graph import NodeSpec
from skill_embedding_ros.launch.graph_exit import LEFT_HUNG, ExitTracker


def test_exit_tracker_ends_on_failure_or_when_every_done_node_is_done():
    specs = [
        NodeSpec("skill_policy", "skill_policy", f"actor_{i}", {}, on_exit="done") for i in (0, 1)
    ] + [NodeSpec("sim_bridge", "sim_bridge", "actor_0", {})]
    tracker = ExitTracker(specs)
    assert tracker.exited(specs[0], 0).end is False
    verdict = tracker.exited(specs[1], 0)
    assert (verdict.end, verdict.code) == (True, 0)
    assert tracker.exited(specs[2], -2) is None  # stopping: exits are expected now

    tracker = ExitTracker(specs)
    verdict = tracker.exited(specs[0], 1)
    assert (verdict.end, verdict.code) == (True, 1)
    verdict = ExitTracker(specs).exited(specs[2], 0)
    assert verdict.code == 1 and "should run until the graph stops" in verdict.message
    assert "killed by SIGSEGV" in ExitTracker(specs).exited(specs[2], -11).message
    # Closed, then hung leaving DDS (ros/run.py ends it by SIGALRM): finished, and said so.
    tracker = ExitTracker(specs)
    assert tracker.exited(specs[0], LEFT_HUNG).code == 0
    verdict = tracker.exited(specs[1], LEFT_HUNG)
    assert (verdict.end, verdict.code) == (True, 0) and "hung leaving DDS" in verdict.message
    verdict = ExitTracker(specs).exited(specs[2], LEFT_HUNG)  # a node that should not end
    assert verdict.code == 1 and "should run until the graph stops" in verdict.message
