"""Every setting of a run config and of a node is checked before anything is made from it: a bad
value is one line naming section.key, the value and what is allowed, and no run directory,
store or checkpoint appears (issue 12: bad values used to crash mid-run or train nonsense)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from skill_embedding_ros.cli import main
from skill_embedding_ros.ros.executables import PARAMETERS
from skill_embedding_ros.settings import nodes as config
from skill_embedding_ros.settings.base import describe
from skill_embedding_ros.settings.run import (
    CONFIG_DIR,
    AgentConfig,
    ReplayConfig,
    RunConfig,
    SettingError,
    TrainConfig,
    from_dict,
    load_run_config,
    to_dict,
)

# A CUDA device this machine lacks: "cuda" where there is none (the testers' case), else one
# index past the last.
MISSING_CUDA = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"

# (command-line words, what the one-line error must say). The first 25 are the testers' cases:
# 14 that crashed with a traceback, 11 that trained nonsense (env_steps=-100 even wrote a
# checkpoint and exited 0). "yaml:" words are a config file's text, passed with --config.
BAD_RUN_SETTINGS = [
    # crashed
    (["yaml:agent: 3"], ["agent must be a section", "got 3"]),
    (["agent.z_dim=-3"], ["agent.z_dim must be >= 1", "got -3"]),
    (["agent.lr=nan"], ["agent.lr must be finite and in (0, 1]", "got 'nan'"]),
    (["train.tasks=[]"], ["train.tasks must be a non-empty list", "got []"]),
    (["replay.capacity=0"], ["replay.capacity must be >= 1", "got 0"]),
    (["replay.segment=0"], ["replay.segment must be >= 1", "got 0"]),
    ([f"train.device={MISSING_CUDA}"], ["train.device must be cpu", f"got '{MISSING_CUDA}'"]),
    (
        ["agent.embedding=foo"],
        ["agent.embedding must be one of 'gaussian', 'bernoulli', 'none'", "'foo'"],
    ),
    (["train.suite=nope"], ["train.suite must be", "'reach'", "got 'nope'"]),
    (["train.tasks=[goal_9]"], ["train.tasks must be", "got ['goal_9']", "valid tasks"]),
    (["agent.history=0"], ["agent.history must be >= 1", "got 0"]),
    (["--seed", "-1"], ["train.seed must be in [0, 4294967295]", "got -1"]),
    (["train.threads=0"], ["train.threads must be >= 1", "got 0"]),
    (["replay.capacity=10"], ["replay.capacity must be >= 50 (one reach episode)", "got 10"]),
    # trained nonsense
    (["agent.z_dim=0"], ["agent.z_dim must be >= 1", "got 0"]),
    (["agent.gamma=5"], ["agent.gamma must be in [0, 1)", "got 5"]),
    (["replay.batch=2.7"], ["replay.batch: expected int, got 2.7; allowed: >= 1"]),
    (["agent.hidden=[]"], ["agent.hidden must be a non-empty list of layer sizes >= 1", "[]"]),
    (["train.updates_per_step=-1"], ["train.updates_per_step must be positive", "got -1"]),
    (["train.env_steps=-100"], ["train.env_steps must be >= 1", "got -100"]),
    (["agent.alpha1=-1"], ["agent.alpha1 must be >= 0", "got -1"]),
    (["agent.tau=2"], ["agent.tau must be in (0, 1]", "got 2"]),
    (["train.warmup_steps=-5"], ["train.warmup_steps must be >= 0", "got -5"]),
    (["agent.inference_actions=maybe"], ["agent.inference_actions: expected a bool", "'maybe'"]),
    (["agent.normalize=1"], ["agent.normalize: expected a bool", "1"]),
    (["agent.activation=tanh"], ["agent.activation", "must be 'elu' or 'relu'"]),
    (["agent.precision=float16"], ["agent.precision", "must be 'float32' or 'bfloat16'"]),
    (["agent.cuda_graph=always"], ["agent.cuda_graph: expected a bool", "'always'"]),
    (["agent.compile=yes please"], ["agent.compile: expected a bool", "'yes please'"]),
    (["agent.retrace_lambda=3"], ["agent.retrace_lambda must be in [0, 1]", "got 3"]),
    # the other settings
    (["agent.critic_hidden=[64, 0]"], ["agent.critic_hidden must be a non-empty list", "0]"]),
    (["agent.inference_noise=.inf"], ["agent.inference_noise must be finite and >= 0", "inf"]),
    (["agent.alpha2=-0.5"], ["agent.alpha2 must be >= 0", "got -0.5"]),
    (["agent.alpha3=-1"], ["agent.alpha3 must be >= 0", "got -1"]),
    (["agent.imitation=nan"], ["agent.imitation must be finite and >= 0", "nan"]),
    (["agent.anchor=-2"], ["agent.anchor must be >= 0", "got -2"]),
    (["agent.anchor_per_q=often"], ["agent.anchor_per_q: expected a bool", "'often'"]),
    (["agent.temperature=0"], ["agent.temperature must be positive", "got 0"]),
    (["agent.code_scale=-1"], ["agent.code_scale must be positive", "got -1"]),
    (["agent.log_std_bounds=[1, -1]"], ["agent.log_std_bounds must be [low, high] with low <"]),
    (["replay.batch=0"], ["replay.batch must be >= 1", "got 0"]),
    (["replay.relabel=1.5"], ["replay.relabel must be in [0, 1]", "got 1.5"]),
    (["replay.hindsight=-0.1"], ["replay.hindsight must be in [0, 1]", "got -0.1"]),
    (["replay.hindsight=0.5"], ["replay.hindsight needs a goal", "suite 'reach' has none"]),
    (["train.envs_per_actor=0"], ["train.envs_per_actor must be >= 1", "got 0"]),
    (["train.actor_processes=-1"], ["train.actor_processes must be >= 0", "got -1"]),
    (["train.z_hold=-1"], ["train.z_hold must be >= 0", "got -1"]),
    (["train.weight_sync_updates=0"], ["train.weight_sync_updates must be >= 1", "got 0"]),
    (["train.seed=true"], ["train.seed: expected int, got True", "[0, 4294967295]"]),
    (["train.log_every=0"], ["train.log_every must be >= 1", "got 0"]),
    (["train.checkpoint_every=0"], ["train.checkpoint_every must be >= 1", "got 0"]),
    (["train.eval_every=-1"], ["train.eval_every must be >= 0", "got -1"]),
    (["train.eval_episodes=0"], ["train.eval_episodes must be >= 1", "got 0"]),
    (["train.solutions_target=-2"], ["train.solutions_target must be >= 0", "got -2"]),
    (["train.demos=/no/store"], ["train.demos must be a replay store", "none at /no/store"]),
    (["train.device=gpu"], ["train.device must be cpu, cuda or cuda:<index>", "got 'gpu'"]),
    (["yaml:train: 5", "train.seed=1"], ["train must be a section", "got 5"]),
    (["agent.hidden=[8"], ["--set agent.hidden=[8", "not valid YAML"]),
]


def _train_words(words: list[str], tmp_path) -> list[str]:
    # A short run by default (a case's own train.env_steps comes later and wins): should a bad
    # value get through, the test fails in seconds instead of training for minutes.
    argv = ["train", "--quiet", "--no-eval", "--set", "train.env_steps=1"]
    for word in words:
        if word.startswith("yaml:"):
            (tmp_path / "bad.yaml").write_text(word[5:] + "\n")
            argv += ["--config", "bad.yaml"]
        elif word.startswith("-"):  # an option and its value, e.g. --seed -1
            argv.append(word)
        else:
            argv += ["--set", word]
    return argv


@pytest.mark.parametrize(
    "words, expected", BAD_RUN_SETTINGS, ids=[" ".join(w) for w, _ in BAD_RUN_SETTINGS]
)
def test_a_bad_run_setting_is_one_line_exit_2_and_writes_nothing(
    words, expected, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # the default run directory, runs/..., would appear here
    argv = _train_words(words, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for text in expected:
        assert text in err, (text, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no run directory


def test_the_cases_cover_every_run_setting():
    """A setting added without a bad case here would go unchecked by the test above."""
    covered = {w.split("=")[0] for words, _ in BAD_RUN_SETTINGS for w in words if "=" in w}
    covered.add("train.seed")  # --seed
    defaults = RunConfig()
    every = {
        f"{section.name}.{f.name}"
        for section in dataclasses.fields(RunConfig)
        for f in dataclasses.fields(getattr(defaults, section.name))
    }
    assert len(every) > 30 and every - covered == set()


def test_the_cli_in_a_process_prints_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "skill_embedding_ros.cli", "train", "--set", "agent.z_dim=-3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr == "error: agent.z_dim must be >= 1, got -3\n"
    assert list(tmp_path.iterdir()) == []


# -- node parameters: the same checks, the same messages ---------------------------------------

# Every node's config class (ros/executables.py): a new node's parameters need cases below.
NODE_CLASSES = sorted({getattr(config, name) for name in PARAMETERS.values()}, key=str)
BAD_NODE_PARAMETERS = [
    (config.BridgeConfig, "suite", "nope", "must be one of 'jaco', 'jaco_velocity', 'push'"),
    (config.BridgeConfig, "mode", "fast", "must be 'lockstep' or 'realtime'"),
    (config.BridgeConfig, "seed", -1, "must be in [0, 4294967295]"),
    (config.BridgeConfig, "publish_clock", 1, ": expected a bool"),
    (config.BridgeConfig, "frame_id", "", "must be a non-empty string"),
    (config.BridgeConfig, "startup_repeat", 0.0, "must be positive"),
    (config.PolicyNodeConfig, "config", "", "must be a non-empty string"),
    (config.PolicyNodeConfig, "mode", "train", "must be 'explore' or 'evaluate'"),
    (config.PolicyNodeConfig, "episodes", -1, "must be >= 0"),
    (config.PolicyNodeConfig, "seed", 2.5, ": expected int"),
    (config.PolicyNodeConfig, "checkpoint", 1.5, ": expected str"),
    (config.PolicyNodeConfig, "reset_timeout", 0.0, "must be positive"),
    (config.PolicyNodeConfig, "stall_timeout", float("nan"), "must be finite and positive"),
    (config.PolicyNodeConfig, "actors", -1, "must be >= 0"),
    (config.PolicyNodeConfig, "lead_episodes", 0, "must be >= 1"),
    (config.PolicyNodeConfig, "weights_key", None, ": expected str"),
    (config.PolicyNodeConfig, "lost_periods", -1, "must be >= 0"),
    (config.PolicyNodeConfig, "transfer", 1.5, ": expected str"),
    (config.StoreConfig, "store", "", "must be a non-empty string"),
    (config.StoreConfig, "max_megabytes", 0.0, "must be positive"),
    (config.StoreConfig, "flush_period", -1.0, "must be positive"),
    (config.StoreConfig, "scan_period", float("inf"), "must be finite and positive"),
    (config.LearnerNodeConfig, "config", 1.5, ": expected str"),
    (config.LearnerNodeConfig, "store", "", "must be a non-empty string"),
    (config.LearnerNodeConfig, "out", "", "must be a non-empty string"),
    (config.LearnerNodeConfig, "device", MISSING_CUDA, "must be cpu"),
    (config.LearnerNodeConfig, "niceness", 20, "must be in [0, 19]"),
    (config.LearnerNodeConfig, "publish_every", 0, "must be >= 1"),
    (config.LearnerNodeConfig, "checkpoint_period", 0.0, "must be positive"),
    (config.LearnerNodeConfig, "scan_period", -1.0, "must be positive"),
    (config.LearnerNodeConfig, "weights_key", None, ": expected str"),
    (config.LearnerNodeConfig, "seed", -2, "must be in [-1, 4294967295]"),
    (config.LearnerNodeConfig, "transfer", None, ": expected str"),
    (config.LearnerNodeConfig, "start_from", 1.5, ": expected str"),
    (config.BagRecordConfig, "out", "", "must be a non-empty string"),
    (config.BagRecordConfig, "topics", [], "must be a non-empty list of non-empty topic"),
    (config.BagRecordConfig, "storage", "zip", "must be 'mcap' or 'sqlite3'"),
    (config.BagRecordConfig, "duration", -1.0, "must be >= 0"),
    (config.BagRecordConfig, "scan_period", 0.0, "must be positive"),
    (config.BagRecordConfig, "depth", 0, "must be >= 1"),
    (config.BagRecordConfig, "log_time", "now", "must be 'send' or 'receive'"),
    (config.GateConfig, "control_period", 0.0, "must be positive"),
    (config.GateConfig, "stale_periods", 1.0, "must be > 1"),
    (config.GateConfig, "joints", ["x", ""], "must be joint names"),
    (config.GateConfig, "robot_description", None, ": expected str"),
    (config.GateConfig, "limits", [1.0], ": expected str"),
    (
        config.GateConfig,
        "command_interface",
        "effort",
        "must be one of 'velocity', 'position', 'torque'",
    ),
    (config.GateConfig, "stepping", "sometimes", "must be 'lockstep' or 'realtime'"),
    (config.GateConfig, "state_latency", -0.1, "must be >= 0"),
    (config.GateConfig, "estop_file", None, ": expected str"),
    (config.GateConfig, "deadman", 1, ": expected a bool"),
    (config.GateConfig, "teleop", None, ": expected str"),
    (config.GateConfig, "dry_run", "no", ": expected a bool"),
    (config.KeyboardTeleopConfig, "mapping", "", "must be a non-empty string"),
    (config.KeyboardTeleopConfig, "rate", 0.0, "must be positive"),
    (config.KeyboardTeleopConfig, "first_hold", -1.0, "must be positive"),
    (config.KeyboardTeleopConfig, "hold", float("nan"), "must be finite and positive"),
    (config.ArmDriverConfig, "robot", "", "must be a non-empty string"),
    (config.ArmDriverConfig, "reset_service", "", "must be a non-empty string"),
    (config.ArmDriverConfig, "state_timeout", 0.0, "must be positive"),
    (config.ArmDriverConfig, "command_timeout", -0.1, "must be positive"),
    (config.ArmDriverConfig, "configure_timeout", float("inf"), "must be finite and positive"),
    (config.ArmDriverConfig, "autostart", "yes", ": expected a bool"),
    (config.ArmDriverConfig, "check_rate", 0.0, "must be positive"),
    (config.ArmDriverConfig, "state_rate", -5.0, "must be positive"),
    (config.ArmDriverConfig, "homing_ramp", 0.0, "must be positive"),
    (config.ArmDriverConfig, "homing_timeout", -1.0, "must be positive"),
    (config.ArmDriverConfig, "homed_speed", 0.0, "must be positive"),
    (config.ArucoConfig, "image", "", "must be a non-empty string"),
    (config.ArucoConfig, "camera_info", "", "must be a non-empty string"),
    (config.ArucoConfig, "object", "", "must be a non-empty string"),
    (config.ArucoConfig, "frame_id", "", "must be a non-empty string"),
    (config.ArucoConfig, "camera_position", [1.0, 2.0], "three numbers (m)"),
    (config.ArucoConfig, "camera_orientation", [1.0, 0.0, 0.0, 0.5], "a unit quaternion"),
    (config.ArucoConfig, "dictionary", "DICT_3X3_9", "must be one of"),
    (config.ArucoConfig, "marker_id", -1, "must be >= 0"),
    (config.ArucoConfig, "marker_side", 0.0, "must be positive"),
    (config.ArucoConfig, "depth", -1.0, "must be >= 0"),
    (config.ArucoConfig, "warn_after", 0.0, "must be positive"),
    (config.StaticPoseConfig, "object", "", "must be a non-empty string"),
    (config.StaticPoseConfig, "position", [0.0], "three numbers (m)"),
    (config.StaticPoseConfig, "orientation", [0.0, 0.0, 0.0, 0.0], "a unit quaternion"),
    (config.StaticPoseConfig, "frame_id", "", "must be a non-empty string"),
    (config.StaticPoseConfig, "every", 0.0, "must be positive"),
    (config.EmulatorConfig, "robot", "", "must be a non-empty string"),
    (config.EmulatorConfig, "rate", 0.0, "must be in [1, 1000]"),
    (config.EmulatorConfig, "latency", -1.0, "must be in [0, 1]"),
    (config.EmulatorConfig, "jitter", 2.0, "must be in [0, 1]"),
    (config.EmulatorConfig, "noise_position", -0.1, "must be >= 0"),
    (config.EmulatorConfig, "noise_velocity", -0.1, "must be >= 0"),
    (config.EmulatorConfig, "drop", 1.0, "must be in [0, 1)"),
    (config.EmulatorConfig, "seed", -1, "must be in [0, 4294967295]"),
    (config.EmulatorConfig, "start", "far", "must be 'near_home' or 'home'"),
    (config.EmulatorConfig, "object_namespace", "arm", "an absolute namespace such as /arm"),
    (config.EmulatorConfig, "object_rate", 0.0, "must be in (0, 1000]"),
    (config.EmulatorConfig, "camera_rate", 31.0, "must be in [0, 30]"),
    (config.EmulatorConfig, "camera_topic", "", "must be a non-empty string"),
    (config.EmulatorConfig, "camera_info_topic", "", "must be a non-empty string"),
    (config.MarkersConfig, "objects", ["block", ""], "object names"),
    (config.MarkersConfig, "object_size", 0.0, "must be positive"),
    (config.MarkersConfig, "workspace", [0.0, 1.0], "six numbers (m) or none"),
    (config.MarkersConfig, "frame_id", "", "must be a non-empty string"),
    (config.MarkersConfig, "rate", -1.0, "must be positive"),
    (config.TrialConfig, "trials", 0, "must be >= 1"),
    (config.TrialConfig, "teleop", "", "must be a non-empty string"),
    (config.TrialConfig, "out", "", "must be a non-empty string"),
    (config.TrialConfig, "home_service", "", "must be a non-empty string"),
    (config.TrialConfig, "home_timeout", 0.0, "must be positive"),
    (config.TrialConfig, "camera", None, ": expected str"),
    (config.TrialConfig, "video_fps", 0.0, "must be in (0, 30]"),
    (config.TrialConfig, "video_width", 8, "must be >= 16"),
]


@pytest.mark.parametrize(
    "cls, key, value, allowed",
    BAD_NODE_PARAMETERS,
    ids=[f"{c.__name__}.{k}={v!r}" for c, k, v, _ in BAD_NODE_PARAMETERS],
)
def test_a_bad_node_parameter_names_itself_and_what_is_allowed(cls, key, value, allowed):
    with pytest.raises(SettingError) as err:
        from_dict(cls, {key: value}, "node parameters")
    message = str(err.value)
    assert message.startswith(f"node parameters.{key}") and allowed in message, message
    assert repr(value) in message and "\n" not in message


def test_the_node_cases_cover_every_node_parameter():
    covered = {(cls, key) for cls, key, _, _ in BAD_NODE_PARAMETERS}
    every = {(cls, f.name) for cls in NODE_CLASSES for f in dataclasses.fields(cls)}
    assert every - covered == set()


def test_a_node_refuses_a_bad_parameter_before_making_its_run_directory(tmp_path):
    pytest.importorskip("rclpy")
    from skill_embedding_ros.ros.processes import fresh_domain, ros_env

    params = {"publish_every": 0, "out": tmp_path / "run", "store": tmp_path / "store"}
    proc = subprocess.run(
        [sys.executable, "-m", "skill_embedding_ros.ros.learner_node", "--ros-args"]
        + [word for k, v in params.items() for word in ("-p", f"{k}:={v}")],
        env=ros_env(fresh_domain()),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: learner parameters.publish_every must be >= 1, got 0"
    )
    assert "Traceback" not in proc.stderr and list(tmp_path.iterdir()) == []


# -- what stays allowed ------------------------------------------------------------------------

COMMITTED = sorted(CONFIG_DIR.glob("*.yaml")) + sorted(CONFIG_DIR.glob("paper/*.yaml"))


def test_the_committed_run_configs_are_found():
    assert {p.name for p in COMMITTED} >= {"reach_bernoulli.yaml", "reach_tasks.yaml"}


@pytest.mark.parametrize(
    "path", COMMITTED, ids=[str(p.relative_to(CONFIG_DIR)) for p in COMMITTED]
)
def test_a_committed_run_config_validates_and_round_trips_through_a_checkpoint(path):
    cfg = load_run_config(str(path.relative_to(CONFIG_DIR)))
    assert cfg.train.tasks and cfg.agent.z_dim >= 1
    # A checkpoint keeps the config as JSON (tuples become lists); it must read back equal.
    again = from_dict(RunConfig, json.loads(json.dumps(to_dict(cfg))))
    assert again == cfg


def test_values_that_keep_their_meaning_are_converted():
    cfg = load_run_config(
        None,
        ("replay.batch=32.0", "agent.lr=1e-4", "agent.hidden=8", "train.tasks=goal_1"),
    )
    assert cfg.replay.batch == 32 and type(cfg.replay.batch) is int
    assert cfg.agent.lr == 1e-4 and cfg.agent.hidden == (8,) and cfg.train.tasks == ("goal_1",)
    assert type(from_dict(config.StoreConfig, {"flush_period": 2}).flush_period) is float


def test_direct_construction_is_checked_too():
    with pytest.raises(SettingError, match=r"^z_dim must be >= 1, got 0$"):
        AgentConfig(z_dim=0)


def test_a_checkpoints_device_is_checked_only_where_the_run_starts():
    """A config read back from a checkpoint trained on a GPU must load on a CPU-only machine;
    a run about to start here (load_run_config) must have its device."""
    cfg = from_dict(RunConfig, {"train": {"device": MISSING_CUDA}})
    assert cfg.train.device == MISSING_CUDA
    with pytest.raises(SettingError, match=r"train\.device must be cpu"):
        load_run_config(None, (f"train.device={MISSING_CUDA}",))
    assert load_run_config(None, (f"train.device={MISSING_CUDA}",), host=False)


def test_help_can_show_every_range():
    shown = describe(AgentConfig)
    assert set(shown) == {f.name for f in dataclasses.fields(AgentConfig)}
    assert shown["gamma"] == "float, in [0, 1)" and shown["z_dim"] == "int, >= 1"
    assert shown["embedding"] == "str, one of 'gaussian', 'bernoulli', 'none'"
    for cls in (ReplayConfig, TrainConfig, *NODE_CLASSES):
        assert set(describe(cls)) == {f.name for f in dataclasses.fields(cls)}, cls
