"""The Jaco suites through the ROS 2 graph (issue 15), every node its own process over DDS:
sim bridge, safety gate, skill policy and replay recorder in lockstep, two tasks taking turns.
The bridge resets for the episode's task (the policy's latched `task` topic), the gate takes
its limits from the bridge's `sim_description` (the MJCF: inertia and servo lag) while
`robot_description` carries the URDF, and the store gets whole 34-D / 9-D episodes."""

from __future__ import annotations

import pytest

from skill_embedding_ros.data.replay_store import StoreReader
from skill_embedding_ros.ros.processes import (
    Probe,
    fresh_domain,
    graph_params,
    log_text,
    start_node,
    stop,
)
from skill_embedding_ros.tasks.jaco.observations import SLICES

CONFIG = """
agent: {hidden: [16, 16], critic_hidden: [16, 16], history: 2}
replay: {capacity: 5000, batch: 8, segment: 5}
train: {suite: %s, tasks: [push, lift], env_steps: 1000, warmup_steps: 100}
"""
EPISODES = 2  # push, then lift


def _height_of_goal_over_block(obs):
    """The goal's height above the block at an episode's start: lift puts it 10-20 cm up,
    push on the bench (docs/jaco.md, the tasks table)."""
    return obs[SLICES["goal"]][2] - obs[SLICES["block_position"]][2]


@pytest.mark.parametrize(
    ("suite", "interface"), [("jaco_velocity", "velocity"), ("jaco", "torque")]
)
def test_jaco_episodes_through_the_graph(tmp_path, suite, interface):
    domain = fresh_domain()
    config = tmp_path / "jaco.yaml"
    config.write_text(CONFIG % suite)
    store = tmp_path / "store"
    gate = graph_params(
        "safety_gate", command_interface=interface, control_period=0.05
    )  # the suite's period: the gate's account of one lockstep command
    nodes = [
        start_node(
            "sim_bridge", domain, tmp_path, "actor_0", graph_params("sim_bridge", suite=suite)
        ),
        start_node("safety_gate", domain, tmp_path, "actor_0", gate),
        start_node(
            "replay_recorder", domain, tmp_path, params={"store": str(store), "flush_period": 0.25}
        ),
    ]
    policy = start_node(
        "skill_policy",
        domain,
        tmp_path,
        "actor_0",
        graph_params("skill_policy", config=str(config), episodes=EPISODES, actors=0),
    )
    probe = Probe(domain)
    episodes, readers = [], []

    def stored() -> bool:
        if not readers and store.exists():
            readers.append(StoreReader(store))
        episodes.extend(readers[0].new_episodes() if readers else [])
        return len(episodes) >= EPISODES

    try:
        probe.spin_until(lambda: policy.poll() is not None, 90, f"{EPISODES} episodes")
        probe.spin_until(stored, 15, "the episodes in the store")
    finally:
        for p in [policy, *nodes]:
            stop(p)
        probe.close()
    bridge, gate_node = nodes[0], nodes[1]
    assert policy.returncode == 0, log_text(policy)[-3000:]
    assert len(episodes) == EPISODES
    for e in episodes:
        assert e.obs.shape == (201, 34) and e.action.shape == (200, 9), (
            e.obs.shape,
            e.action.shape,
        )
    assert [e.task for e in episodes] == [0, 1]  # push, lift: tasks take turns
    push, lift = (_height_of_goal_over_block(e.obs[0]) for e in episodes)
    assert abs(push) < 0.03 and 0.09 < lift < 0.21, (push, lift)  # each reset followed its task
    assert "URDF on robot_description" in log_text(bridge)
    assert f"{interface} commands, joint limits from sim_description" in log_text(gate_node)
    assert "joint limits from robot_description" not in log_text(gate_node)
