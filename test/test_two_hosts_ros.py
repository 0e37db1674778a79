"""Actors on another host (docs/multi_host.md): the training graph split across two network
namespaces joined by a veth pair, DDS over UDP only, one `skill-embedding launch ... --only` per
"host". The learner and the recorder (which share the store's disk) run in namespace a; the
actors (bridge, gate, policy) in namespace b. Their episodes must cross to the store and the
learner's weights back to the policies. Needs root and network namespaces; skips elsewhere."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from skill_embedding_ros.agent.checkpoint import read_checkpoint
from skill_embedding_ros.data.replay_store import StoreReader
from skill_embedding_ros.ros.processes import REPO, fresh_domain, ros_env
from skill_embedding_ros.testing.netns import TwoHosts, network_env, unavailable

WHY = unavailable()
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"two hosts: {WHY}")

TINY = """
agent: {hidden: [32, 32], critic_hidden: [32, 32]}
replay: {capacity: 20000, batch: 16}
train: {suite: reach, tasks: [any], env_steps: 1000, warmup_steps: 500, log_every: 500}
"""


def test_actors_on_another_host_train_over_the_link(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    run_dir = tmp_path / "run"
    launch = [sys.executable, "-m", "skill_embedding_ros.cli", "launch", "train_sim"]
    args = ["actors:=2", f"config:={config}", f"run_dir:={run_dir}"]
    env = network_env(ros_env(fresh_domain()))
    with TwoHosts(net=41) as hosts:
        actors = hosts.popen(
            "b", [*launch, *args, "--only", "actor_*"], env=env, cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            learner = subprocess.run(
                hosts.command("a", [*launch, *args, "--only", "learner,replay_recorder"]),
                env=env, cwd=REPO, capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            sent = {host: hosts.sent_bytes(host) for host in ("a", "b")}
        finally:
            actors.send_signal(signal.SIGINT)
            try:
                actor_log = actors.communicate(timeout=30)[0].decode(errors="replace")
            except subprocess.TimeoutExpired:
                actors.kill()
                actor_log = actors.communicate()[0].decode(errors="replace")
    log = learner.stdout + learner.stderr
    assert learner.returncode == 0, log[-3000:] + "\n--- actors ---\n" + actor_log[-3000:]
    assert "[actor_0/skill_policy]" in actor_log and "[learner]" not in actor_log
    assert "[actor_0/" not in log  # each host ran its own part

    # Over the link, not around it: b sent its episodes' records (about 0.3 kB a step), a the
    # learner's weights and counts.
    print(f"bytes sent over the link: {sent}")  # docs/multi_host.md quotes `pytest -s`
    assert sent["b"] > 300_000 and sent["a"] > 50_000, sent
    # Both actors' episodes crossed the link into the store; the learner trained on them.
    episodes = StoreReader(run_dir / "store").new_episodes()
    assert sum(len(e) for e in episodes) >= 1000
    _, meta = read_checkpoint(run_dir / "checkpoint.safetensors")
    assert meta["updates"] == int((1000 - 500) * 0.25)
    # The learner's weights crossed the other way: a paced explorer starts no episode before
    # its first /policy_weights (ros/skill_policy.py `connected`), so every episode above
    # waited for them.
