"""A whole teleop-monitored trial run, as an operator runs it: the deploy_emulated graph started
by the pip launcher (hardware emulator at 250 Hz with latency, jitter and drops; arm driver,
safety gate with deadman and takeover, skill policy, trial manager, bag recorder) and a
scripted operator on /joy with the xbox mapping. It holds the deadman, resets the scene and
confirms each trial, takes over in trial 2, presses the e-stop in trial 3 and releases it with
`skill-embedding estop release`. The report must be written with the operator's labels, and the
bag must ingest with the intervened steps flagged and holding what the operator commanded."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import Joy
from std_srvs.srv import Trigger

from skill_embedding_ros.agent.run_networks import FRESH_CRITICS
from skill_embedding_ros.data.bags.ingest import IngestOptions, ingest
from skill_embedding_ros.data.replay_store import StoreReader
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.processes import REPO, Probe, fresh_domain, ros_env
from skill_embedding_ros.testing.checkpoints import untrained_checkpoint

TRIALS = 3
BUTTONS = {"deadman": 4, "intervene": 5, "estop": 7, "confirm": 0, "success": 1, "failure": 2}
LABELS = {1: "success", 2: "failure"}  # trial 3: aborted by the e-stop
TAKEOVER = 0.8  # joint_1's stick (axis 0) while intervening


class Operator:
    """Publishes the pad's state at 50 Hz, as the joy node does; presses are held 0.2 s."""

    def __init__(self, probe: Probe):
        self.probe = probe
        self.buttons = [0] * 11
        self.axes = [0.0] * 8
        self.axes[2] = self.axes[5] = 1.0  # the triggers at rest
        self.pub = probe.node.create_publisher(Joy, topics.JOY, topics.RELIABLE)
        probe.node.create_timer(0.02, self.publish)

    def publish(self) -> None:
        self.pub.publish(Joy(buttons=list(self.buttons), axes=list(self.axes)))

    def hold(self, role: str, held: bool = True) -> None:
        self.buttons[BUTTONS[role]] = int(held)

    def press(self, role: str) -> None:
        self.hold(role)
        self.probe.spin_for(0.2)
        self.hold(role, False)
        self.probe.spin_for(0.1)


def run_trials(tmp_path, args: list[str], react, watch=None) -> tuple[int, str]:
    """Launch deploy_emulated with `args` and play the operator: the deadman held, each new
    trial phase handed to `react(phase, trial, operator, probe, env)`; `watch(probe)` may
    subscribe to more first. Returns the launcher's exit code and its log."""
    domain = fresh_domain()
    env = ros_env(domain)
    cmd = [sys.executable, "-m", "skill_embedding_ros.cli", "launch", "deploy_emulated", *args]
    log = open(tmp_path / "launch.log", "wb")  # noqa: SIM115 (closed below)
    launcher = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    probe = Probe(domain)
    phases: list[tuple[str, int]] = []
    try:
        operator = Operator(probe)
        operator.hold("deadman")
        probe.node.create_subscription(
            DiagnosticStatus,
            "/arm/" + topics.TRIAL_STATE,
            lambda m: phases.append(
                ((v := {k.key: k.value for k in m.values})["phase"], int(v["trial"]))
            ),
            topics.LATCHED,
        )
        if watch is not None:
            watch(probe)
        # Every entry into a phase is handed over, as an operator answers every prompt: a trial
        # whose episode was abandoned before its first record (a stall on a loaded machine) is
        # homed and confirmed again, so ("await_confirm", k) can come twice.
        handled, last = 0, None
        deadline = time.monotonic() + 240
        while launcher.poll() is None:
            if time.monotonic() > deadline:
                tail = (tmp_path / "launch.log").read_text(errors="replace")[-8000:]
                raise AssertionError(f"the trial run did not end; phases {phases}\n{tail}")
            probe.spin_for(0.05)
            while handled < len(phases):
                handled += 1
                if phases[handled - 1] != last:
                    last = phases[handled - 1]
                    react(*last, operator, probe, env)
        code = launcher.wait()
    finally:
        probe.close()
        if launcher.poll() is None:
            launcher.terminate()
            launcher.wait(30)
        log.close()
    return code, (tmp_path / "launch.log").read_text(errors="replace")


def test_a_teleop_monitored_trial_run_against_the_emulator(tmp_path):
    checkpoint = untrained_checkpoint("jaco_velocity_smoke.yaml", tmp_path / "policy.safetensors")
    run_dir = tmp_path / "run"
    gate: dict[str, str] = {}
    released = []

    def watch(probe):
        probe.node.create_subscription(
            DiagnosticStatus,
            "/arm/" + topics.GATE_STATE,
            lambda m: gate.update({k.key: k.value for k in m.values}),
            topics.LATCHED,
        )

    def react(phase, trial, operator, probe, env):
        if phase == "await_confirm":
            reset_scene = probe.node.create_client(Trigger, "/arm_emulator/reset_scene")
            probe.spin_until(reset_scene.service_is_ready, 10, "the emulator's reset_scene")
            future = reset_scene.call_async(Trigger.Request())
            probe.spin_until(future.done, 10, "reset_scene's reply")
            operator.press("confirm")
        elif phase == "running" and trial == 2:
            probe.spin_for(1.0)
            operator.hold("intervene")
            operator.axes[0] = TAKEOVER
            probe.spin_for(1.5)
            operator.axes[0] = 0.0
            operator.hold("intervene", False)
        elif phase == "running" and trial == 3:
            probe.spin_for(1.0)
            operator.press("estop")
            probe.spin_until(lambda: gate.get("estop") == "true", 5, "the latched e-stop")
            released.append(
                subprocess.run(
                    [sys.executable, "-m", "skill_embedding_ros.cli", "estop", "release"],
                    env=env,
                    cwd=REPO,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
            )
        elif phase == "await_label":
            operator.press(LABELS[trial])

    code, text = run_trials(
        tmp_path,
        [
            f"checkpoint:={checkpoint}",
            f"trials:={TRIALS}",
            f"run_dir:={run_dir}",
            "teleop:=xbox",
            "rate:=250.0",
            "latency:=0.002",
            "jitter:=0.001",
            "drop:=0.01",
        ],
        react,
        watch,
    )
    assert code == 0, text[-6000:]
    assert len(released) == 1 and released[0].returncode == 0, released
    assert "e-stop released" in released[0].stdout
    assert int(gate["interventions"]) > 0

    report = json.loads((run_dir / "trials" / "report.json").read_text())
    labels = [t["label"] for t in report["trials"]]
    assert labels == ["success", "failure", "abort"], report

    # The bag ingests: every trial's episode, the labels kept, the takeover flagged and recorded
    # as what the operator commanded (joint_1 alone at one speed), not what the policy proposed.
    # (Steps the gate stopped are flagged too: a stop is not the policy's command. A command the
    # gate only limited is the policy's own, recorded as proposed: agent/actor.py settle.)
    code, [summary] = ingest([run_dir / "bag"], tmp_path / "store", IngestOptions(), print)
    assert code == 0 and summary.episodes >= TRIALS, summary.text()
    assert "success 1, failure 1; abort 1" in summary.trials, summary.trials
    episodes = sorted(StoreReader(tmp_path / "store").new_episodes(), key=lambda e: e.obs[0][0])
    takeover = [_operator_steps(e) for e in episodes]
    assert [len(t) > 0 for t in takeover].count(True) == 1, [len(t) for t in takeover]
    steps = max(takeover, key=len)
    assert len(steps) >= 10, steps  # 1.5 s of takeover at 20 Hz, its ends aside
    assert np.allclose(steps[:, 0], steps[0, 0], rtol=1e-3), steps[:, 0]


def _operator_steps(episode) -> np.ndarray:
    """The intervened steps that hold the operator's command: joint_1 moving, all else still."""
    actions = episode.action[episode.intervention]
    moving = np.abs(actions[:, 0]) > 1e-3
    still = np.all(np.abs(actions[:, 1:]) < 1e-6, axis=1)
    return actions[moving & still]


def test_fine_tuning_trials_train_the_checkpoint(tmp_path):
    """mode:=explore: the trials' episodes reach a replay store, and a learner that starts from
    the checkpoint's networks trains on them; the policy acts with its weights from the start."""
    checkpoint = untrained_checkpoint("jaco_velocity_smoke.yaml", tmp_path / "policy.safetensors")
    run_dir = tmp_path / "run"

    def react(phase, trial, operator, probe, env):
        if phase == "await_confirm":
            operator.press("confirm")
        elif phase == "await_label":
            operator.press("success")

    code, text = run_trials(
        tmp_path,
        [
            f"checkpoint:={checkpoint}",
            "trials:=2",
            f"run_dir:={run_dir}",
            "teleop:=xbox",
            "mode:=explore",
            "rate:=250.0",
        ],
        react,
    )
    assert code == 0, text[-6000:]
    assert f"a new run from the networks of {checkpoint}" in text, text[-6000:]
    assert FRESH_CRITICS in text  # an actor checkpoint: its fresh critics are warned of
    assert "explore jaco_velocity" in text  # the policy samples actions
    assert "on cpu at nice +10" in text  # the learner yields the CPU to the control nodes
    episodes = StoreReader(run_dir / "store").new_episodes()
    assert len(episodes) >= 1 and all(len(e) == 200 for e in episodes)
    # The learner checkpointed at shutdown, having trained on what the trials recorded.
    from skill_embedding_ros.agent.checkpoint import read_checkpoint

    _, meta = read_checkpoint(run_dir / "learner" / "checkpoint.safetensors")
    assert int(meta["env_steps"]) >= 200 and int(meta["updates"]) > 0, meta
