"""`skill-embedding record` on a running graph (real processes over DDS), then the round trip:
the bag's record topics ingest into the very episodes the live replay recorder stored, and its
robot topics alone align into the same observations, actions and rewards."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import yaml
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from std_msgs.msg import Float64MultiArray

from skill_embedding_ros.core.bag_align import AlignConfig
from skill_embedding_ros.core.bag_ingest import IngestOptions, ingest
from skill_embedding_ros.core.replay_store import StoreReader
from skill_embedding_ros.envs import get_suite
from skill_embedding_ros.ros import topics
from test.rosutil import REPO, Probe, fresh_domain, log_text, ros_env, start_node, stop

EPISODES = 2
TOPICS = ["/actor_0/step_records", "/actor_0/joint_states", "/actor_0/commands"]


def _key(episode) -> bytes:
    return episode.obs.tobytes()


def _wait(cond, timeout: float, what: str, procs) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        for p in procs:
            assert p.poll() is None, f"{p.args} died:\n{log_text(p)[-2000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


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
    # A placeholder publisher makes the record topic visible before the policy exists, so both
    # recorders subscribe before the first record (the policy starts on the first subscriber).
    probe = Probe(domain)
    probe.node.create_publisher(Float64MultiArray, TOPICS[0], topics.RECORDS)
    nodes = [
        start_node("sim_bridge", domain, tmp_path, "actor_0", {"seed": 3}),
        start_node("safety_gate", domain, tmp_path, "actor_0"),
        start_node("replay_recorder", domain, tmp_path, params={"store": str(live_store)}),
    ]
    recorder = _record(domain, bag, tmp_path)
    policy = None
    try:
        _wait(
            lambda: (
                all(f"recording {t}" in log_text(recorder) for t in TOPICS)
                and f"recording {TOPICS[0]}" in log_text(nodes[2])
            ),
            60,
            "both recorders to subscribe",
            [*nodes, recorder],
        )
        policy = start_node(
            "skill_policy",
            domain,
            tmp_path,
            "actor_0",
            {"seed": 3, "episodes": EPISODES, "actors": 0},
        )
        _wait(lambda: policy.poll() is not None, 90, "the episodes", [*nodes, recorder])
        assert policy.returncode == 0, log_text(policy)[-2000:]
        time.sleep(1.0)  # the last records reach both recorders
    finally:
        for p in [policy, *nodes]:
            if p is not None:
                stop(p)
        recorder.send_signal(signal.SIGINT)
        recorder.wait(20)
        probe.close()
    assert recorder.returncode == 0, log_text(recorder)[-2000:]
    want = sorted(StoreReader(live_store).new_episodes(), key=_key)
    assert len(want) == EPISODES

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

    # Robot topics only: the same states, actions (the gate forwarded them) and rewards.
    suite = get_suite("reach")
    align = AlignConfig(suite=suite, tasks=("any",), z_dim=2, task="any")
    options = IngestOptions(kind="robot", align=align)
    code, summaries = ingest([bag], tmp_path / "from_robot", options, report=print)
    assert code == 0, summaries[0].text()
    aligned = sorted(StoreReader(tmp_path / "from_robot").new_episodes(), key=_key)
    assert len(aligned) == len(want), summaries[0].text()
    for a, b in zip(aligned, want, strict=True):
        np.testing.assert_array_equal(a.obs, b.obs)
        np.testing.assert_allclose(a.action, b.action, atol=1e-6)
        np.testing.assert_array_equal(a.reward, b.reward)
        assert np.isnan(a.log_b_a).all() and a.intervention.all()
