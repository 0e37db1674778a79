"""A bag recorded from the Jaco graph (real processes over DDS) ingests into the episodes the
live replay recorder stored: `skill-embedding record` takes the robot topics only (joint_states
with the fingers, the block's and the goal's stamped poses, the gate's commands, the policy's
task), and alignment rebuilds the same 34-D observations (forward kinematics, block velocity
from the pose history), the commands as the gate passed them, the rewards and each episode's
task."""

from __future__ import annotations

import signal
import subprocess
import sys

import numpy as np
from std_msgs.msg import String, UInt8MultiArray

from skill_embedding_ros.agent.checkpoint import encode_weights
from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.data.bags.align import AlignConfig
from skill_embedding_ros.data.bags.ingest import IngestOptions, ingest
from skill_embedding_ros.data.replay_store import StoreReader
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import weights_message
from skill_embedding_ros.ros.processes import (
    REPO,
    Probe,
    fresh_domain,
    graph_params,
    log_text,
    ros_env,
    start_node,
    stop,
    wait_alive,
)
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.tasks.registry import get_suite

SUITE = "jaco_velocity"
TASKS = ("push", "lift")
CONFIG = f"""
agent: {{hidden: [16, 16], critic_hidden: [16, 16], history: 2}}
replay: {{capacity: 5000, batch: 8, segment: 5}}
train: {{suite: {SUITE}, tasks: [{", ".join(TASKS)}], env_steps: 1000, warmup_steps: 100}}
"""
EPISODES = 2  # push, then lift
ROBOT_TOPICS = [
    "/actor_0/joint_states",
    "/actor_0/objects/block/pose",
    "/actor_0/objects/goal/pose",
    "/actor_0/commands",
    "/actor_0/task",
]


def test_a_bag_of_the_jaco_graph_ingests_into_its_episodes(tmp_path):
    domain = fresh_domain()
    config = tmp_path / "jaco.yaml"
    config.write_text(CONFIG)
    bag, live_store = tmp_path / "bag", tmp_path / "live_store"
    # Discovery takes seconds: everything comes up first, a placeholder publisher making the
    # task topic visible before the policy exists, and the paced policy waits for the probe's
    # weights until the bag recorder has every topic.
    probe = Probe(domain)
    probe.node.create_publisher(String, ROBOT_TOPICS[-1], topics.LATCHED)
    weights = probe.node.create_publisher(UInt8MultiArray, topics.POLICY_WEIGHTS, topics.LATCHED)
    gate = graph_params("safety_gate", command_interface="velocity", control_period=0.05)
    policy = graph_params("skill_policy", config=str(config), episodes=EPISODES, actors=1)
    nodes = [
        start_node(
            "sim_bridge", domain, tmp_path, "actor_0", graph_params("sim_bridge", suite=SUITE)
        ),
        start_node("safety_gate", domain, tmp_path, "actor_0", gate),
        start_node(
            "replay_recorder",
            domain,
            tmp_path,
            params={"store": str(live_store), "flush_period": 0.25},
        ),
    ]
    log = open(tmp_path / "bag_recorder.log", "ab")  # noqa: SIM115 (closed with the process)
    recorder = subprocess.Popen(
        [sys.executable, "-m", "skill_embedding_ros.cli", "record", str(bag), *ROBOT_TOPICS],
        env=ros_env(domain),
        stdout=log,
        stderr=log,
        cwd=REPO,
    )
    recorder.log_path = tmp_path / "bag_recorder.log"
    policy_proc = None
    try:
        wait_alive(
            lambda: all(f"recording {t}" in log_text(recorder) for t in ROBOT_TOPICS),
            60,
            "the bag recorder to find every robot topic",
            [*nodes, recorder],
        )
        policy_proc = start_node("skill_policy", domain, tmp_path, "actor_0", policy)
        probe.spin_for(3.0)
        nets = build_networks(load_run_config(str(config)))
        weights.publish(weights_message(encode_weights(nets.actor_state(), 1, env_steps=0)))
        probe.spin_until(lambda: policy_proc.poll() is not None, 120, f"{EPISODES} episodes")
        probe.spin_for(1.0)  # the last messages reach both recorders
    finally:
        for p in [p for p in (policy_proc, *nodes) if p is not None]:
            stop(p)
        recorder.send_signal(signal.SIGINT)
        recorder.wait(20)
        probe.close()
    assert policy_proc.returncode == 0, log_text(policy_proc)[-3000:]
    assert recorder.returncode == 0, log_text(recorder)[-2000:]
    want = StoreReader(live_store).new_episodes()
    assert [e.task for e in want] == [0, 1], [e.task for e in want]

    suite = get_suite(SUITE)
    align = AlignConfig(suite=suite, tasks=TASKS, z_dim=2)  # the task from the task topic
    options = IngestOptions(kind="robot", align=align)
    code, [summary] = ingest([bag], tmp_path / "from_bag", options, report=print)
    assert code == 0, summary.text()
    got = {e.obs[0].tobytes(): e for e in StoreReader(tmp_path / "from_bag").new_episodes()}
    for b in want:
        a = got[b.obs[0].tobytes()]
        assert a.task == b.task and len(a) == len(b), (a.task, b.task, len(a), len(b))
        np.testing.assert_array_equal(a.obs, b.obs)
        np.testing.assert_array_equal(a.reward, b.reward)
        # The gate passes the policy's speeds or slows a joint near a position limit (never
        # reverses it, never makes it faster); the bag holds what it passed.
        # Both in the suite's action units, [-1, 1] of each joint's speed limit.
        executed, asked = a.action.astype(float), np.clip(b.action.astype(float), -1.0, 1.0)
        same = np.isclose(executed, asked, atol=1e-5)
        slowed = (executed * asked >= 0) & (np.abs(executed) <= np.abs(asked) + 1e-5)
        assert np.all(same | slowed) and same.mean() > 0.9, same.mean()
        assert np.isnan(a.log_b_a).all()
