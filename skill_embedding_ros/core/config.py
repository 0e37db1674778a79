"""One dataclass per component holds every default; YAML files and ROS parameters only override
them, through `from_dict` (one mapping, one place that rejects unknown keys)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from skill_embedding_ros.paths import data_dir


@dataclass
class AgentConfig:
    """Networks and the entropy-regularized objective (Hausman et al. 2018, Sec. 3)."""

    embedding: Literal["gaussian", "bernoulli"] = "bernoulli"
    """Family of p(z|t): Gaussian (reparameterized) or Bernoulli bits (relaxed for gradients)."""
    z_dim: int = 2
    """Size of the latent z (Bernoulli: number of bits, so 2**z_dim codes)."""
    hidden: tuple[int, ...] = (128, 128)
    """Hidden layers of the policy and the inference network (paper: 100, 100; ELU)."""
    critic_hidden: tuple[int, ...] = (128, 128)
    """Hidden layers of the critic (paper: 200, 200)."""
    history: int = 4
    """H: states (and actions) in the inference network's window q(z | a, s^H)."""
    inference_actions: bool = True
    """Whether q sees the actions of its window, or states only (then codes must differ in
    where they go, not only in how they move)."""
    inference_noise: float = 0.0
    """Std of Gaussian noise added to the states q sees (observation units, m here): skills
    closer than this cannot be told apart, so q rewards distinct outcomes, not tiny offsets."""
    alpha1: float = 1.0
    """Weight of the embedding entropy H[p(z|t)], per step of reward held by one z."""
    alpha2: float = 1.0
    """Weight of log q(z | a, s^H) in the augmented reward, per step; 0 removes the term."""
    alpha3: float = 0.01
    """Weight of the policy entropy H[pi(a|s,z)] in the augmented reward, per step."""
    gamma: float = 0.99
    """Discount per control step."""
    retrace_lambda: float = 1.0
    """lambda in the Retrace traces c = lambda * min(1, pi p / (b b_z)); 0 gives 1-step TD."""
    lr: float = 3e-4
    """Adam learning rate for every network (paper: 1e-4)."""
    tau: float = 0.005
    """Polyak rate of the target critic (fraction moved per update)."""
    temperature: float = 0.5
    """Temperature of the relaxed Bernoulli used for gradients through binary z."""
    code_scale: float = 1.0
    """Bernoulli bits enter the policy and the critic as +-code_scale (networks.z_features)."""
    log_std_bounds: tuple[float, float] = (-5.0, 1.0)
    """Clamp on Gaussian log standard deviations (policy, embedding, inference)."""

    def __post_init__(self):
        if not self.code_scale > 0:
            raise ValueError(
                f"agent.code_scale must be positive (bits enter as +-code_scale), "
                f"got {self.code_scale}"
            )


@dataclass
class ReplayConfig:
    """Trajectory replay."""

    capacity: int = 100_000
    """Transitions kept; the oldest whole episodes leave first (paper: 1e5)."""
    segment: int = 10
    """T: steps per sampled segment for the Retrace target."""
    batch: int = 32
    """Segments per learner update (paper: 32 per worker)."""
    relabel: float = 0.0
    """Fraction of segments the critic scores for a task drawn uniformly from all tasks, with
    that task's reward recomputed from the observations (core/relabel.py); 0 keeps each
    segment's own task. Lets a task learn from episodes collected under the others."""

    def __post_init__(self):
        if not 0.0 <= self.relabel <= 1.0:
            raise ValueError(f"replay.relabel must lie in [0, 1], got {self.relabel}")


@dataclass
class TrainConfig:
    """One training run: which suite and tasks, how long, how actors and learner are paced."""

    suite: str = "reach"
    """Task suite (skill_embedding_ros/envs/suites.py)."""
    tasks: tuple[str, ...] = ("any",)
    """Task of each task id t; the same name twice gives two identical tasks."""
    env_steps: int = 60_000
    """Total environment steps over all actors."""
    envs_per_actor: int = 8
    """Environments each actor steps side by side (one batched policy call per step)."""
    actor_processes: int = 0
    """Actor processes feeding the learner; 0 runs one actor inline (deterministic per seed)."""
    updates_per_step: float = 0.25
    """Learner updates per environment step (replay ratio)."""
    warmup_steps: int = 2_000
    """Environment steps collected before the first update."""
    z_hold: int = 0
    """Steps a sampled z is held; 0 holds it for the whole episode."""
    weight_sync_updates: int = 50
    """Actors receive fresh weights after this many learner updates."""
    seed: int = 0
    """Seeds torch, numpy and every environment."""
    threads: int = 1
    """torch intra-op threads of the learner (1 lets two runs share a 2-core machine)."""
    log_every: int = 2_000
    """Environment steps between TensorBoard/log rows."""
    checkpoint_every: int = 20_000
    """Environment steps between checkpoints."""
    device: str = "cpu"
    """Torch device of the learner ("cpu", "cuda")."""


@dataclass
class RunConfig:
    """Everything one run needs; what a YAML file under config/ describes."""

    agent: AgentConfig = field(default_factory=AgentConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class BridgeConfig:
    """Sim bridge node: a MuJoCo scene of one suite behind the robot's topics."""

    suite: str = "reach"
    """Task suite whose scene is simulated (skill_embedding_ros/envs/suites.py)."""
    mode: str = "lockstep"
    """lockstep: advance one control period per command received, then publish (training);
    realtime: step at the wall-clock control rate holding the latest command (like hardware)."""
    seed: int = 0
    """Seeds the start-state randomization of every reset."""
    publish_clock: bool = False
    """realtime only: publish /clock so use_sim_time nodes follow this bridge (one per graph)."""
    frame_id: str = "world"
    """Frame of the published object poses."""
    startup_repeat: float = 0.5
    """lockstep only: seconds (wall clock) between re-publications of the initial state, until
    the first command or reset arrives, so a subscriber that joins late still gets it."""

    def __post_init__(self):
        if self.mode not in ("lockstep", "realtime"):
            raise ValueError(f"mode must be 'lockstep' or 'realtime', got {self.mode!r}")
        if self.startup_repeat <= 0:
            raise ValueError(f"startup_repeat must be > 0 s, got {self.startup_repeat}")


@dataclass
class GateConfig:
    """Safety gate node: every command to the robot passes through it (docs/safety.md)."""

    control_period: float = 0.1
    """Seconds per control step of the robot (the watchdog counts in these)."""
    stale_periods: float = 1.5
    """A policy command older than this many control periods (> 1) is stale and the gate commands
    a stop; checked four times per period, so the stop goes out within stale_periods + 1/4
    periods (two at the default)."""
    max_velocity: float = 1.0
    """Largest commanded joint velocity (m/s or rad/s), applied to every joint."""
    position_min: float = -1.0
    """Lower joint position limit (m or rad): no command may take a joint below it."""
    position_max: float = 1.0
    """Upper joint position limit (m or rad)."""
    stepping: str = "realtime"
    """How the robot advances: lockstep (a simulator that steps one control period per command
    and publishes one joint state per step) or realtime (holds the latest command on the wall
    clock: hardware, a real-time simulator). It decides which commands a joint state shows."""
    state_latency: float = 0.05
    """realtime only: longest time (s) from a motion to the joint state showing it arriving, and
    from a command sent to it acting; larger is safer and slower near the limits."""
    velocity_lag: float = 0.0
    """Time constant (s) of the joints' velocity loop: a joint at v coasts velocity_lag * v after
    its command drops to zero, and the gate keeps that distance in reserve (0: ideal tracking)."""
    estop_file: str = "~/.ros/skill_embedding_ros/estop/{node}.latched"
    """Where a latched e-stop is kept across restarts ({node}: the node's full name, / as _): a
    gate that finds it starts latched. Empty: the latch lives only as long as the process."""

    def __post_init__(self):
        if self.control_period <= 0:
            raise ValueError(f"control_period must be > 0 s, got {self.control_period}")
        if self.stale_periods <= 1:
            raise ValueError(
                "stale_periods must be > 1 (a policy on time would turn stale between commands), "
                f"got {self.stale_periods}"
            )
        if self.max_velocity < 0:
            raise ValueError(f"max_velocity must be >= 0, got {self.max_velocity}")
        if not self.position_min < self.position_max:
            raise ValueError(
                f"position_min ({self.position_min}) must be < position_max ({self.position_max})"
            )
        if self.stepping not in ("lockstep", "realtime"):
            raise ValueError(f"stepping must be 'lockstep' or 'realtime', got {self.stepping!r}")
        if not self.state_latency >= 0:
            raise ValueError(f"state_latency must be >= 0 s, got {self.state_latency}")
        if not self.velocity_lag >= 0:
            raise ValueError(f"velocity_lag must be >= 0 s, got {self.velocity_lag}")

    @property
    def stale_after(self) -> float:
        """Seconds without a valid policy command after which the gate stops the robot."""
        return self.stale_periods * self.control_period

    @property
    def tick_period(self) -> float:
        """Seconds between watchdog checks (a quarter period: a stop goes out at most a quarter
        period after the command turned stale)."""
        return self.control_period / 4


@dataclass
class ActorConfig:
    """Skill policy node: one actor's episodes."""

    config: str = "reach_bernoulli.yaml"
    """Run config (agent, replay, train) under config/ or a path: suite, tasks, network sizes."""
    mode: str = "explore"
    """explore: sample actions and record them for training; evaluate: mean actions."""
    episodes: int = 0
    """Episodes to run before the node exits; 0 runs until stopped."""
    seed: int = 0
    """Seeds z and action sampling and the task schedule."""
    checkpoint: str = ""
    """Start from this checkpoint's weights (evaluate mode needs one); empty: initial weights
    until the learner publishes /policy_weights."""
    reset_timeout: float = 30.0
    """Seconds to wait for the bridge's reset service, the gate and (when exploring) a
    recorder before reporting them missing and exiting."""
    stall_timeout: float = 2.0
    """Seconds without the next state inside an episode before it is abandoned and reset."""
    actors: int = 1
    """Actors feeding the learner, for pacing: an explorer starts an episode only while the
    learner's backlog (env steps not yet used by its replay ratio) is under `lead_episodes`
    episodes per actor, as in the in-process trainer; 0 switches pacing off."""
    lead_episodes: int = 4
    """Episodes per actor the learner may have waiting. More keeps actors busy while episodes
    travel (recorder flush + learner scan); fewer keeps the data closer to on-policy."""


@dataclass
class StoreConfig:
    """Replay recorder node and the persistent replay store it writes."""

    store: str = "runs/graph/store"
    """Directory of the replay store (rosbag2 chunks, one per flush)."""
    max_megabytes: float = 1024.0
    """Size bound of the store; the oldest chunks are deleted beyond it."""
    flush_period: float = 1.0
    """Seconds between chunk writes: a finished episode waits at most this long for its chunk
    (meanwhile it is in the store's write-ahead log, so a crash does not lose it)."""
    scan_period: float = 1.0
    """Seconds between scans of the graph for new `.../step_records` topics (actors that join)."""

    def __post_init__(self):
        for name in ("max_megabytes", "flush_period", "scan_period"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


@dataclass
class LearnerNodeConfig:
    """Learner node: trains from the replay store and publishes weights."""

    config: str = "reach_bernoulli.yaml"
    """Run config (agent, replay, train) under config/ or a path."""
    store: str = "runs/graph/store"
    """Directory of the replay store the recorder writes."""
    out: str = "runs/graph"
    """Run directory: checkpoint, TensorBoard scalars, progress.jsonl."""
    device: str = "cpu"
    """Torch device ("cpu", "cuda")."""
    publish_every: int = 50
    """Learner updates between weight broadcasts."""
    checkpoint_period: float = 30.0
    """Seconds between atomic checkpoints (and at exit)."""
    scan_period: float = 1.0
    """Seconds between scans of the store for new chunks."""


def from_dict(cls: type, values: dict[str, Any] | None, where: str = "config") -> Any:
    """Build dataclass `cls` from defaults overridden by `values`; unknown keys are errors."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(fields)}")
    kwargs = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = from_dict(type(default), value, f"{where}.{name}")
        elif isinstance(default, tuple):
            kwargs[name] = tuple(value) if isinstance(value, list | tuple) else (value,)
        elif isinstance(default, bool) or not isinstance(default, int | float | str):
            kwargs[name] = value
        else:
            try:
                kwargs[name] = type(default)(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{where}.{name}: expected {type(default).__name__}, got {value!r}"
                ) from None
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    """Plain, YAML/JSON-ready dict of a config dataclass."""
    return dataclasses.asdict(config)


@dataclass
class BagRecordConfig:
    """Bag recorder node: which topics go into which bag."""

    out: str = "rosbag"
    """Bag directory to create (must not exist): metadata.yaml + the storage file."""
    topics: tuple[str, ...] = ("*",)
    """Topic names or fnmatch patterns (absolute, e.g. /actor_*/joint_states); "*": all."""
    storage: str = "mcap"
    """mcap (rosbag2's default since Iron) or sqlite3."""
    duration: float = 0.0
    """Seconds (wall clock) to record before exiting 0; 0 records until Ctrl-C."""
    scan_period: float = 0.5
    """Seconds between scans of the graph for new topics matching `topics`."""
    depth: int = 1000
    """Queue depth of every subscription: a busy recorder falls behind before it drops."""
    log_time: str = "send"
    """Log time of a message: send (the publisher's source timestamp) keeps the causal order of
    a lockstep chain (command -> the state it caused, sub-millisecond apart), which reception
    times across topics do not always keep; receive (as `ros2 bag record`). Both system clock."""

    def __post_init__(self):
        if self.storage not in ("mcap", "sqlite3"):
            raise ValueError(f"storage must be mcap or sqlite3, got {self.storage!r}")
        if not self.scan_period > 0:
            raise ValueError(f"scan_period must be > 0 s, got {self.scan_period}")
        if self.log_time not in ("send", "receive"):
            raise ValueError(f"log_time must be send or receive, got {self.log_time!r}")
        if self.duration < 0:
            raise ValueError(f"duration must be >= 0 s, got {self.duration}")


CONFIG_DIR = data_dir("config")


def load_run_config(
    path: str | None, overrides: tuple[str, ...] = (), seed: int | None = None
) -> RunConfig:
    """YAML file (under config/ or a path; None: the defaults) + `section.key=value` overrides
    -> RunConfig. Raises ValueError saying what is wrong and where."""
    values: dict = {}
    if path:
        p = Path(path)
        if not p.is_file() and (CONFIG_DIR / path).is_file():
            p = CONFIG_DIR / path
        if not p.is_file():
            raise ValueError(f"config file {path} not found (looked in . and {CONFIG_DIR})")
        try:
            values = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{p} is not valid YAML: {err}") from None
        if not isinstance(values, dict):
            raise ValueError(f"{p} must hold a mapping of sections, got {type(values)}")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or "." not in key:
            raise ValueError(f"--set expects section.key=value, got {item!r}")
        section, name = key.split(".", 1)
        values.setdefault(section, {})[name] = yaml.safe_load(raw)
    if seed is not None:
        values.setdefault("train", {})["seed"] = seed
    return from_dict(RunConfig, values)
