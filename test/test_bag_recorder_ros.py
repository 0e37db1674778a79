"""`skill-embedding record` on a running graph (real processes over DDS), then the round trip:
the bag's record topics ingest into the very episodes the live replay recorder stored, and its
robot topics alone align into the same observations, actions and rewards."""

from __future__ import annotations

import signal
import subprocess
import sys

import numpy as np
import yaml
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from std_msgs.msg import Float64MultiArray, UInt8MultiArray

from skill_embedding_ros.agent.checkpoint import encode_weights
from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.data.assembly import episode_records
from skill_embedding_ros.data.bags.align import AlignConfig
from skill_embedding_ros.data.bags.ingest import IngestOptions, ingest
from skill_embedding_ros.data.replay_store import StoreReader
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import record_message, weights_message
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
from skill_embedding_ros.settings.nodes import GateConfig, PolicyNodeConfig
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.testing.episodes import assert_all_expected, episode_uid, random_episode

EPISODES = 2
# The graph's gate with limits of 1 m, inside the scene's 1.5 m, so it acts now and then.
LIMIT = 1.0
GATE = graph_params("safety_gate", limits="{x: {lower: -1, upper: 1}, y: {lower: -1, upper: 1}}")
TOPICS = ["/actor_0/step_records", "/actor_0/joint_states", "/actor_0/commands"]


def _key(episode) -> bytes:
    return episode.obs.tobytes()


def _start(episode) -> bytes:
    return episode.obs[0].tobytes()


def _record(domain: int, out, log_dir):
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / "bag_recorder.log", "ab")  # noqa: SIM115 (closed with the process)
    cmd = [sys.executable, "-m", "skill_embedding_ros.cli", "record", str(out), *TOPICS]
    proc = subprocess.Popen(cmd, env=ros_env(domain), stdout=log, stderr=log, cwd=REPO)
    proc.log_path = log_dir / "bag_recorder.log"
    return proc


def test_record_a_running_graph_and_ingest_it_back(tmp_path):
    domain = fresh_domain()
    bag, live_store = tmp_path / "graph_bag", tmp_path / "live_store"
    recorder_params = {"store": str(live_store), "flush_period": 0.2}
    # DDS discovery of a new process takes seconds here: a recorder can miss what a node
    # publishes in its first seconds. So the whole graph comes up first, a placeholder publisher
    # making the record topic visible to both recorders before the policy exists, and the
    # policy (paced: it waits for the learner's first weights) is released by the probe only
    # once everything has had time to match.
    probe = Probe(domain)
    probe.node.create_publisher(Float64MultiArray, TOPICS[0], topics.RECORDS)
    weights = probe.node.create_publisher(UInt8MultiArray, topics.POLICY_WEIGHTS, topics.LATCHED)
    nodes = [
        start_node("sim_bridge", domain, tmp_path, "actor_0", {"seed": 3}),
        start_node("safety_gate", domain, tmp_path, "actor_0", GATE),
        start_node("replay_recorder", domain, tmp_path, params=recorder_params),
        start_node("skill_policy", domain, tmp_path, "actor_0", {"seed": 3, "actors": 1}),
    ]
    recorder = _record(domain, bag, tmp_path)
    try:
        wait_alive(
            lambda: (
                all(f"recording {t}" in log_text(recorder) for t in TOPICS)
                and f"recording {TOPICS[0]}" in log_text(nodes[2])
                and probe.node.count_publishers(TOPICS[0]) == 2
            ),
            60,
            "the graph to come up",
            [*nodes, recorder],
        )
        probe.spin_for(3.0)
        nets = build_networks(load_run_config(PolicyNodeConfig().config))
        weights.publish(weights_message(encode_weights(nets.actor_state(), 1, env_steps=0)))
        live = StoreReader(live_store)
        stored = []
        wait_alive(
            lambda: len(stored.__iadd__(live.new_episodes())) >= EPISODES,
            90,
            "episodes in the live store",
            [*nodes, recorder],
        )
        # Without the gate a lockstep actor stops between two steps: no record is in flight
        # to one recorder and not to the other when the rest stops.
        stop(nodes.pop(1))
        probe.spin_for(1.5)
    finally:
        for p in nodes:
            stop(p)
        recorder.send_signal(signal.SIGINT)
        recorder.wait(20)
        probe.close()
    assert recorder.returncode == 0, log_text(recorder)[-2000:]
    in_order = StoreReader(live_store).new_episodes()  # one actor: in the order they ran
    want = sorted(in_order, key=_key)
    assert len(want) >= EPISODES
    # Nobody took over: every step is the policy's own, with its log b, limited by the gate or
    # not (the limit is the environment's; below, the robot topics show the gate did limit).
    assert all(np.isfinite(e.log_b_a).all() and not e.intervention.any() for e in want)

    # A standard rosbag2 bag: metadata with offered QoS and type hashes, readable by mcap.
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == "mcap"
    by_name = {
        t["topic_metadata"]["name"]: t["topic_metadata"] for t in meta["topics_with_message_count"]
    }
    assert set(by_name) == set(TOPICS)
    offered = by_name["/actor_0/step_records"]["offered_qos_profiles"]
    assert offered and all(q["reliability"] == "reliable" for q in offered)
    assert by_name["/actor_0/joint_states"]["type_description_hash"].startswith("RIHS01_")
    with open(next(bag.glob("*.mcap")), "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        decoded = [
            m.decoded_message
            for m in reader.iter_decoded_messages(topics=["/actor_0/joint_states"])
        ]
    assert decoded and list(decoded[-1].name) == ["x", "y"]

    # Records: the ingested episodes are the live recorder's, field for field.
    code, summaries = ingest([bag], tmp_path / "from_records", IngestOptions(), report=print)
    assert code == 0 and summaries[0].kind == "records"
    got = sorted(StoreReader(tmp_path / "from_records").new_episodes(), key=_key)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        for name in ("obs", "action", "reward", "z", "log_b_a", "log_b_z", "z_drawn"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)

    # Robot topics only: the same states and rewards, and the actions as the gate forwarded them:
    # the policy's, or slowed toward zero (never reversed, never faster) where a joint was near a
    # position limit: within what one command, one unconfirmed command and the coasting
    # distance can cover (control/reach.py). Resets go through the gate, so even an episode's first
    # command is limited from that episode's own start.
    gate_config = GateConfig(**GATE)
    speed, lag = 1.0, 1 / 30  # the scene's servos (urdf/point_mass.xml)
    near = speed * (2 * gate_config.control_period + lag)
    suite = get_suite("reach")
    align = AlignConfig(suite=suite, tasks=("any",), z_dim=2, task="any")
    options = IngestOptions(kind="robot", align=align)
    code, summaries = ingest([bag], tmp_path / "from_robot", options, report=print)
    assert code == 0, summaries[0].text()
    aligned = {_start(e): e for e in StoreReader(tmp_path / "from_robot").new_episodes()}
    # The one episode the gate's stop cut short is there too, shorter, but not in the store.
    assert len(want) <= len(aligned) <= len(want) + 1, summaries[0].text()
    limited = 0
    for b in want:
        a = aligned[_start(b)]
        np.testing.assert_array_equal(a.obs, b.obs)
        policy = np.clip(b.action.astype(float), -1.0, 1.0)
        executed = a.action.astype(float)
        same = np.isclose(executed, policy, atol=1e-5)
        slowed = (executed * policy >= 0) & (np.abs(executed) <= np.abs(policy) + 1e-5)
        assert np.all(same | slowed), (executed, policy)
        limited += int((~same).any(axis=1).sum())
        position = b.obs[:-1, :2].astype(float)  # where each action was taken
        assert np.all(same | (np.abs(position) >= LIMIT - near)), (
            executed,
            policy,
            position,
        )
        np.testing.assert_array_equal(a.reward, b.reward)
        assert np.isnan(a.log_b_a).all() and a.intervention.all()
    assert limited > 0, "the gate never limited a command: the test shows nothing"


def test_record_to_sqlite3_for_a_duration(tmp_path):
    """sqlite3 storage on request, `--duration` ends the recording (exit 0), and a publisher
    that joins after the recorder is picked up by the scan."""
    domain = fresh_domain()
    bag = tmp_path / "bag"
    cmd = [
        sys.executable,
        "-m",
        "skill_embedding_ros.cli",
        "record",
        str(bag),
        "/actor_*/step_records",
        "--storage",
        "sqlite3",
        "--duration",
        "12",
    ]
    log = tmp_path / "recorder.log"
    with open(log, "wb") as out:
        recorder = subprocess.Popen(cmd, env=ros_env(domain), stdout=out, stderr=out, cwd=REPO)
    probe = Probe(domain)
    try:
        pub = probe.node.create_publisher(Float64MultiArray, TOPICS[0], topics.RECORDS)
        probe.spin_until(lambda: pub.get_subscription_count() == 1, 30, "the recorder")
        probe.spin_for(2.0)  # discovery settles on both sides
        episodes = [random_episode(uid) for uid in range(3)]
        for i, episode in enumerate(episodes):
            stamps = np.arange(len(episode) + 1) * 10**8 + i * 10**10
            for record in episode_records(episode, "/actor_0", i, stamps):
                pub.publish(record_message(record))
        probe.spin_for(0.5)
        recorder.wait(30)
    finally:
        if recorder.poll() is None:
            recorder.kill()
        probe.close()
    assert recorder.returncode == 0, log.read_text()[-2000:]
    assert next(bag.glob("*.db3"))
    code, [summary] = ingest([bag], tmp_path / "store", IngestOptions(), report=print)
    assert code == 0 and summary.dropped == 0, summary.text()
    stored = StoreReader(tmp_path / "store").new_episodes()
    assert_all_expected(stored)
    assert sorted(episode_uid(e) for e in stored) == [0, 1, 2]
