"""The training graph end to end, over real rclpy and DDS, every node its own process: the graph
comes up through the launcher, episodes reach the store, weights reach the policies, lockstep
reproduces a trajectory exactly, and the learner and the recorder survive `kill -9` (the
learner with exact counts, through a poison episode and hostile weights). Where torch sees a
CUDA device, the learner also trains on it inside the graph (skipped elsewhere, as in CI)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rosbags.rosbag2 import Reader
from safetensors.torch import save
from std_msgs.msg import Float64MultiArray, UInt8MultiArray

from skill_embedding_ros.agent.checkpoint import load_checkpoint_into, read_checkpoint
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.data.assembly import episode_records
from skill_embedding_ros.data.replay_store import StoreReader, list_chunks
from skill_embedding_ros.ros import topics as ros_topics
from skill_embedding_ros.ros.conversions import record_message, weights_message
from skill_embedding_ros.ros.processes import (
    REPO,
    Probe,
    fresh_domain,
    graph_params,
    log_text,
    ros_env,
    start_container,
    start_node,
    stop,
)
from skill_embedding_ros.ros.run import EXECUTOR_ENV
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.testing.checkpoints import untrained_checkpoint
from skill_embedding_ros.testing.episodes import make_episode

TINY = """
agent: {hidden: [32, 32], critic_hidden: [32, 32]}
replay: {capacity: 20000, batch: 16}
train: {suite: reach, tasks: [any], env_steps: %d, warmup_steps: 500, log_every: 500,
        eval_every: 500, eval_episodes: 2}
"""


def tiny_config(tmp_path, env_steps: int):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY % env_steps)
    return path


def policy_statuses(probe: Probe) -> list[dict]:
    """Collects the skill policies' per-episode DiagnosticStatus values."""
    seen: list[dict] = []

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if "skill_policy" in status.name:
                seen.append({kv.key: kv.value for kv in status.values} | {"name": status.name})

    probe.node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 100)
    return seen


def launch_train_sim(domain: int, probe: Probe, timeout: float, *args: str) -> str:
    """`skill-embedding launch train_sim ARGS` to its end, the probe spinning meanwhile (then
    closed); asserts it exited 0 and returns its output."""
    cmd = [sys.executable, "-m", "skill_embedding_ros.cli", "launch", "train_sim", *args]
    launcher = subprocess.Popen(
        cmd, env=ros_env(domain), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        probe.spin_until(lambda: launcher.poll() is not None, timeout, "the graph to finish")
    finally:
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
            launcher.wait(30)
        probe.close()
    out = launcher.stdout.read().decode(errors="replace")
    assert launcher.returncode == 0, out[-3000:]
    return out


def test_train_graph_through_the_launcher(tmp_path):
    domain = fresh_domain()
    run_dir = tmp_path / "run"
    key = tmp_path / "weights.key"
    key.write_bytes(bytes(range(32)))
    probe = Probe(domain)
    statuses = policy_statuses(probe)
    out = launch_train_sim(
        domain,
        probe,
        150,
        "actors:=2",
        f"config:={tiny_config(tmp_path, 1500)}",
        f"run_dir:={run_dir}",
        f"weights_key:={key}",  # the learner signs, the policies adopt only what verifies
    )
    assert "[learner]" in out and "[actor_1/skill_policy]" in out  # prefixed logs

    # Episodes of both actors reached the store, and they are whole, valid episodes.
    topics = set()
    for chunk in list_chunks(run_dir / "store"):
        with Reader(chunk.path) as bag:
            topics |= {c.topic for c in bag.connections}
    assert topics == {"/actor_0/step_records", "/actor_1/step_records"}
    episodes = StoreReader(run_dir / "store").new_episodes()
    assert sum(len(e) for e in episodes) >= 1500
    assert all(len(e) == 50 for e in episodes)

    # The learner trained to the replay ratio and checkpointed.
    _, meta = read_checkpoint(run_dir / "checkpoint.safetensors")
    assert meta["updates"] == int((1500 - 500) * 0.25)

    # The learner evaluated when its store count passed each 500 env steps (train.eval_every;
    # one point when a store chunk passes several): rows in progress.jsonl, a log line each,
    # and the points in summary.json.
    rows = [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]
    points = [r["env_steps"] for r in rows if "eval/success_task0" in r]
    assert points and points[0] >= 500 and points[-1] >= 1500, points
    assert len({p // 500 for p in points}) == len(points)  # at most one per multiple
    assert out.count("evaluation at ") == len(points)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["periodic_eval"]["points"] == len(points)

    # Signed weights reached the policies: both report episodes run with learner weights.
    versions = {s["name"]: int(s["weights_version"]) for s in statuses}
    assert len(versions) == 2, statuses[-4:]
    assert all(v > 0 for v in versions.values()), versions


def test_the_train_graph_fine_tunes_a_checkpoint_by_its_config(tmp_path):
    """start_from:=F with config:=C trains F's networks by C, as `train --config C
    --start-from F` does: here C anchors the policy to F's (agent.anchor), which the learner
    holds in its checkpoint, and the policies act with the learner's weights."""
    domain = fresh_domain()
    config = tmp_path / "anchored.yaml"
    config.write_text(
        TINY.replace("critic_hidden: [32, 32]", "critic_hidden: [32, 32], anchor: 5.0") % 1000
    )
    start = untrained_checkpoint(config, tmp_path / "start.safetensors", seed=3)
    run_dir = tmp_path / "run"
    probe = Probe(domain)
    statuses = policy_statuses(probe)
    out = launch_train_sim(
        domain, probe, 120, "actors:=1", f"config:={config}", f"start_from:={start}",
        f"run_dir:={run_dir}",
    )  # fmt: skip
    assert f"a new run from the networks of {start}" in out
    tensors, meta = read_checkpoint(run_dir / "checkpoint.safetensors")
    started = read_checkpoint(start)[0]
    assert meta["updates"] == int((1000 - 500) * 0.25)  # the config's warm-up, not none
    anchor = {k: v for k, v in tensors.items() if k.startswith("nets.anchor.")}
    assert anchor and all(
        torch.equal(v, started[k.replace("nets.anchor.", "nets.policy.")])
        for k, v in anchor.items()
    )
    # The learner's weights from its start (version 0 on), not the policy's own fresh ones (-1).
    assert statuses and int(statuses[-1]["weights_version"]) >= 0, statuses[-2:]


@pytest.mark.parametrize(
    "device",
    [
        "cpu",  # runs everywhere: what the GPU case checks works, so a GPU is not its first run
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
        ),
    ],
)
def test_the_learner_trains_on_its_device_inside_the_graph(tmp_path, device):
    """`device:=DEVICE`: the learner says where it trains and trains to the replay ratio, the
    policies act with the weights it publishes (CPU tensors on the wire), and its checkpoint
    loads into networks on the CPU."""
    domain = fresh_domain()
    run_dir, config = tmp_path / "run", tiny_config(tmp_path, 1500)
    probe = Probe(domain)
    statuses = policy_statuses(probe)
    out = launch_train_sim(
        domain, probe, 150, "actors:=1", "compose:=true", f"config:={config}",
        f"run_dir:={run_dir}", f"device:={device}",
    )  # fmt: skip
    # On a GPU, agent.cuda_graph's default: each update one replayed CUDA graph.
    on = {"cpu": "cpu:", "cuda": r"cuda \(one CUDA graph per update\)"}[device]
    assert re.search(rf"\[learner\].* from .* on {on}", out), out[-3000:]
    tensors, meta = read_checkpoint(run_dir / "checkpoint.safetensors")
    assert meta["updates"] == int((1500 - 500) * 0.25)
    on_cpu = Learner(build_networks(load_run_config(config)), 50)
    load_checkpoint_into(on_cpu, tensors, "checkpoint")
    assert on_cpu.optimizers["critic"].state_dict()["state"]  # the GPU's optimizer state too
    assert statuses and max(int(s["weights_version"]) for s in statuses) > 0, statuses[-2:]


def run_actor_once(tmp_path, domain: int, seed: int, composed=False) -> list[np.ndarray]:
    """Bridge + gate + explorer for 2 episodes, each its own process or (`composed`) all in one
    actor_container; the probe subscribes to its records."""
    probe = Probe(domain)
    records: list[np.ndarray] = []
    probe.node.create_subscription(
        Float64MultiArray,
        "/actor_0/step_records",
        lambda m: records.append(np.asarray(m.data)),
        1000,
    )
    params = {
        "sim_bridge": {"seed": seed},
        "safety_gate": graph_params("safety_gate"),
        "skill_policy": {"seed": seed, "episodes": 2, "actors": 0},
    }
    if composed:
        nodes, policy = [], start_container(domain, tmp_path, "actor_0", params)
    else:
        nodes = [start_node(e, domain, tmp_path, "actor_0", params[e]) for e in list(params)[:2]]
        policy = start_node("skill_policy", domain, tmp_path, "actor_0", params["skill_policy"])
    try:
        probe.spin_until(lambda: policy.poll() is not None, 60, "two episodes")
        probe.spin_until(lambda: len(records) >= 2 * 51, 10, "every record")
    finally:
        for p in [policy, *nodes]:
            stop(p)
        probe.close()
    assert policy.returncode == 0, log_text(policy)[-2000:]
    return records


def test_lockstep_reproduces_a_trajectory_exactly(tmp_path, monkeypatch):
    first = run_actor_once(tmp_path / "a", fresh_domain(), seed=5)
    second = run_actor_once(tmp_path / "b", fresh_domain(), seed=5)
    other = run_actor_once(tmp_path / "c", fresh_domain(), seed=6)
    assert len(first) == len(second) == 102
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)  # stamps, observations, actions, z: bit for bit
    assert not all(np.array_equal(a, c) for a, c in zip(first, other, strict=True))
    # The same actor composed in one process (compose:=true) runs the very same trajectory, and
    # so it does on rclpy's SingleThreadedExecutor (ros/run.py new_executor): one run checks both
    # (a graph costs ~11 s of the suite; `first` and `second` ran on the EventsExecutor).
    monkeypatch.setenv(EXECUTOR_ENV, "single")
    composed = run_actor_once(tmp_path / "d", fresh_domain(), seed=5, composed=True)
    assert len(composed) == 102
    for a, d in zip(first, composed, strict=True):
        np.testing.assert_array_equal(a, d)


def test_learner_and_recorder_survive_kill9(tmp_path):
    domain = fresh_domain()
    store, run_dir = tmp_path / "store", tmp_path / "run"
    config = tiny_config(tmp_path, 3000)
    actor = [
        start_node("sim_bridge", domain, tmp_path, "actor_0", {"seed": 1}),
        start_node("safety_gate", domain, tmp_path, "actor_0", graph_params("safety_gate")),
        start_node("skill_policy", domain, tmp_path, "actor_0", {"config": str(config)}),
    ]
    recorder_params = {"store": str(store), "flush_period": 0.5}
    learner_params = {
        "config": str(config),
        "store": str(store),
        "out": str(run_dir),
        "checkpoint_period": 1.0,
        "scan_period": 0.2,
    }
    recorder = start_node("replay_recorder", domain, tmp_path / "r1", params=recorder_params)
    learner = start_node("learner", domain, tmp_path / "l1", params=learner_params)
    checkpoint = run_dir / "checkpoint.safetensors"
    probe = Probe(domain)
    statuses = policy_statuses(probe)

    def wait(cond, timeout, what):
        deadline = time.monotonic() + timeout
        while not cond():
            for p in [*actor, recorder, learner]:
                assert p.poll() is None, f"{p.args[2]} died:\n{log_text(p)[-2000:]}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            probe.spin_for(0.2)

    def checkpointed(key: str) -> int:
        try:
            return read_checkpoint(checkpoint)[1].get(key, 0)
        except (FileNotFoundError, ValueError):
            return 0

    def checkpointed_updates() -> int:
        return checkpointed("updates")

    try:
        # Recorder: kill -9 mid-stream, restart; the store stays readable and keeps growing.
        wait(lambda: len(list_chunks(store)) >= 2, 60, "two chunks")
        recorder.send_signal(signal.SIGKILL)
        recorder.wait()
        before = list_chunks(store)
        recorder = start_node("replay_recorder", domain, tmp_path / "r2", params=recorder_params)
        wait(lambda: len(list_chunks(store)) > len(before) + 1, 60, "chunks after the restart")
        reader = StoreReader(store)
        assert reader.new_episodes() and not reader.unreadable
        assert {c.number for c in before} <= {c.number for c in list_chunks(store)}

        # A rogue actor's well-formed poison episode (3-value observations) is stored by the
        # recorder and quarantined by the learner; hostile weights (version 1e12) are refused
        # by the policy. Nothing dies, and the policy goes on adopting the learner's weights.
        rogue = probe.node.create_publisher(
            Float64MultiArray, "/actor_9/step_records", ros_topics.RECORDS
        )
        wait(lambda: rogue.get_subscription_count() > 0, 30, "the recorder to find the rogue")
        poison = make_episode(5, obs_dim=3)
        for record in episode_records(poison, "/actor_9", 0, np.arange(6) * 10**8):
            rogue.publish(record_message(record))
        state = build_networks(load_run_config(config)).actor_state()
        hostile = save(state, metadata={"version": str(10**12), "run": "evil"})
        weights = probe.node.create_publisher(
            UInt8MultiArray, ros_topics.POLICY_WEIGHTS, ros_topics.LATCHED
        )
        weights.publish(weights_message(hostile))
        version_then = json.loads((run_dir / "learner.json").read_text())["version"]
        wait(lambda: "quarantined chunk_" in log_text(learner), 30, "the poison quarantined")
        assert "observation has 3 values" in log_text(learner)
        wait(lambda: "/policy_weights refuse" in log_text(actor[2]), 30, "the hostile refused")
        wait(
            lambda: any(int(s["weights_version"]) > version_then for s in statuses),
            60,
            "the policy to adopt the learner's newer weights",
        )
        assert all(int(s["weights_version"]) < 10**9 for s in statuses)
        probe.node.destroy_publisher(weights)  # its latched message goes with it

        # Learner: kill -9 once it has checkpointed some updates, restart, and it resumes with
        # exact counts: the episodes that landed meanwhile count once, the version goes on.
        wait(
            lambda: checkpointed_updates() > 0 and checkpointed("quarantined") == 1,
            90,
            "a checkpoint with updates and the quarantined episode",
        )
        learner.send_signal(signal.SIGKILL)
        learner.wait()
        saved = checkpointed_updates()
        version_killed = json.loads((run_dir / "learner.json").read_text())["version"]
        learner = start_node("learner", domain, tmp_path / "l2", params=learner_params)
        wait(lambda: "resumed from" in log_text(learner), 30, "the learner to resume")
        assert f"resumed from {checkpoint}: {saved} updates" in log_text(learner)
        learner.wait(120)
        assert learner.returncode == 0, log_text(learner)[-2000:]
        assert checkpointed_updates() == int((3000 - 500) * 0.25)
        _, meta = read_checkpoint(checkpoint)
        stored = sum(c.transitions for c in list_chunks(store) if c.number <= meta["store_chunk"])
        assert meta["env_steps"] == stored - len(poison)  # every fit stored step, once
        assert meta["quarantined"] == 1 and meta["weights_version"] > version_killed
        assert re.search(
            r"replay refilled from the store: \d+ episodes, 1 quarantined again", log_text(learner)
        )
    finally:
        for p in [*actor, recorder, learner]:
            stop(p)
        probe.close()
