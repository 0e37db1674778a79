"""One dataclass per ROS node: its parameters, their defaults and what each allows.

Graph descriptions are checked against these classes and each node declares exactly their fields
(ros/params.py), so a parameter's default, range and meaning live here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass

from skill_embedding_ros.settings.base import (
    Settings,
    choice,
    flag,
    from_dict,
    integer,
    items,
    number,
    random_seed,
    text,
    torch_device,
    validate,
)
from skill_embedding_ros.settings.run import RunConfig, load_run_config, suite_name

DEFAULT_RUN_CONFIG = "reach_bernoulli.yaml"
"""The run config of a skill policy or learner node given none (config/)."""


@dataclass
class BridgeConfig(Settings):
    """Sim bridge node: a MuJoCo scene of one suite behind the robot's topics."""

    suite: str = suite_name("reach")
    """Task suite whose scene is simulated (tasks/registry.py: built in or a plug-in)."""
    mode: str = choice("lockstep", ("lockstep", "realtime"))
    """lockstep: advance one control period per command received, then publish (training);
    realtime: step at the wall-clock control rate holding the latest command (like hardware)."""
    seed: int = random_seed(0)
    """Seeds the start-state randomization of every reset."""
    publish_clock: bool = flag(False)
    """realtime only: publish /clock so use_sim_time nodes follow this bridge (one per graph)."""
    frame_id: str = text("world", nonempty=True)
    """Frame of the published object poses."""
    startup_repeat: float = number(0.5, "positive")
    """lockstep only: seconds (wall clock) between re-publications of the initial state, until
    the first command or reset arrives, so a subscriber that joins late still gets it."""


@dataclass
class GateConfig(Settings):
    """Safety gate node: every command to the robot passes through it (docs/safety.md)."""

    control_period: float = number(0.1, "positive")
    """Seconds per control step of the robot (the watchdog counts in these)."""
    stale_periods: float = number(1.5, "> 1")
    """A policy command older than this many control periods (> 1: a policy on time must not
    turn stale between commands) is stale and the gate commands a stop: at a deadline that long
    after the last command, and at each quarter-period tick from then on."""
    joints: tuple[str, ...] = items((), str, "joint names", lambda v: all(v))
    """The commanded joints, in the order of policy_command and commands (a forward controller's
    `joints`); empty: the robot description's actuated joints, in its order."""
    robot_description: str = text("")
    """URDF or MJCF file the joint limits come from (position range, velocity and effort limits,
    the velocity loop's lag); empty: the robot_description topic (std_msgs/String)."""
    limits: str = text("")
    """Tighter limits by joint name, a YAML mapping: {x: {lower: -1.0, upper: 1.0, velocity: 0.5}}
    (keys lower, upper: m or rad; velocity: m/s or rad/s; effort: N or N m; lag: s; inertia: kg
    or kg m^2; damping: N s/m or N m s/rad)."""
    command_interface: str = choice("velocity", ("velocity", "position", "torque"))
    """What a command holds per joint: velocity (m/s or rad/s, a forward velocity controller),
    position (a target in m or rad, a forward position controller) or torque (an effort in N for
    a slide, N m for a hinge, on top of the robot's own gravity compensation: a forward effort
    controller). torque needs each joint's inertia, damping, effort and velocity limits, and
    joint_states with velocities (docs/safety.md)."""
    stepping: str = choice("realtime", ("lockstep", "realtime"))
    """How the robot advances: lockstep (a simulator that steps one control period per command
    and publishes one joint state per step) or realtime (holds the latest command on the wall
    clock: hardware, a real-time simulator). It decides which commands a joint state shows."""
    state_latency: float = number(0.05, ">= 0")
    """realtime only: longest time (s) from a motion to the joint state showing it arriving, and
    from a command sent to it acting; larger is safer and slower near the limits."""
    estop_file: str = text("~/.ros/skill_embedding_ros/estop/{node}.latched")
    """Where a latched e-stop is kept across restarts ({node}: the node's full name, / as _): a
    gate that finds it starts latched. Empty: the latch lives only as long as the process."""
    deadman: bool = flag(False)
    """Policy commands reach the robot only while the teleop mapping's deadman button is held on
    /joy (sensor_msgs/Joy); released, or no Joy for the mapping's `timeout` s: stops. Needs
    `teleop`."""
    teleop: str = text(
        "",
        relation=lambda cfg, v: None if v or not cfg.deadman else "deadman: true needs a mapping",
    )
    """Teleop mapping (config/teleop/<name>.yaml, or a YAML path) for /joy: deadman, intervene
    (the operator's axes replace the policy's commands, at share x velocity limit per joint, m/s
    or rad/s, through the same limits), e-stop button (docs/teleop.md). Empty: no
    teleop (training graphs)."""
    dry_run: bool = flag(False)
    """The robot gets only stops (zeros) and no resets (the gate answers `reset` itself: the
    episode starts where the robot is); the gate decides everything as usual and reports what it
    would have sent (gate_state `would_send`, a log line every few seconds): a first bring-up
    with the robot held (docs/hardware.md). `executed` answers with the stops, so the policy
    records what the robot did."""

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
class PolicyNodeConfig(Settings):
    """Skill policy node: one actor's episodes."""

    config: str = text(DEFAULT_RUN_CONFIG, nonempty=True)
    """Run config (agent, replay, train) under config/ or a path: suite, tasks, network sizes."""
    mode: str = choice("explore", ("explore", "evaluate"))
    """explore: sample actions and record them for training; evaluate: mean actions."""
    episodes: int = integer(0, ">= 0")
    """Episodes to run before the node exits; 0 runs until stopped."""
    seed: int = random_seed(0)
    """Seeds z and action sampling and the task schedule."""
    checkpoint: str = text("")
    """Start from this checkpoint's weights (evaluate mode needs one): a pre-training run's, or
    a transfer run's (a high-level policy over frozen skills); empty: initial weights until the
    learner publishes /policy_weights."""
    transfer: str = text("")
    """Transfer run file (a name under config/transfer/ or a path; settings/transfer.py): act
    with a high-level policy z = f(s) over that file's frozen skills, on its task (`config` is
    then unused), and take the transfer learner's weights; empty: skills as pre-trained."""
    reset_timeout: float = number(30.0, "positive")
    """Seconds to wait for the bridge's reset service, the gate and (when exploring) a
    recorder before reporting them missing and exiting."""
    stall_timeout: float = number(2.0, "positive")
    """Seconds without the next state inside an episode before it is abandoned and reset."""
    actors: int = integer(1, ">= 0")
    """Actors feeding the learner, for pacing: an explorer starts an episode only while the
    learner's backlog (env steps not yet used by its replay ratio) is under `lead_episodes`
    episodes per actor, as in the in-process trainer; 0 switches pacing off."""
    lead_episodes: int = integer(4, ">= 1")
    """Episodes per actor the learner may have waiting. More keeps actors busy while episodes
    travel (recorder flush + learner scan); fewer keeps the data closer to on-policy."""
    weights_key: str = text("")
    """File with the key /policy_weights must be signed with (agent/weights_signature.py); empty:
    weights are not checked for a signature."""
    lost_periods: int = integer(0, ">= 0")
    """Control periods in a row an episode may lose (no joint state, or no pose, within the
    sync tolerance: control/state_sync.py) and go on; more, and it is abandoned. 0 (training):
    every recorded transition spans one period. A hardware trial (deploy graphs) goes on through
    a short hiccup of the robot's stream, so an operator's trial is not lost for it; the step
    after the gap then spans more than one period."""


@dataclass
class StoreConfig(Settings):
    """Replay recorder node and the persistent replay store it writes."""

    store: str = text("runs/graph/store", nonempty=True)
    """Directory of the replay store (rosbag2 chunks, one per flush)."""
    max_megabytes: float = number(1024.0, "positive")
    """Size bound of the store; the oldest chunks are deleted beyond it."""
    flush_period: float = number(1.0, "positive")
    """Seconds between chunk writes: a finished episode waits at most this long for its chunk
    (meanwhile it is in the store's write-ahead log, so a crash does not lose it)."""
    scan_period: float = number(1.0, "positive")
    """Seconds between scans of the graph for new `.../step_records` topics (actors that join)."""


@dataclass
class LearnerNodeConfig(Settings):
    """Learner node: trains from the replay store and publishes weights."""

    config: str = text("")
    """Run config (agent, replay, train) under config/ or a path. Empty: `start_from`'s own (the
    config it was trained by), or DEFAULT_RUN_CONFIG without one."""
    transfer: str = text("")
    """Transfer run file (a name under config/transfer/ or a path; settings/transfer.py): train
    a high-level policy over its frozen skills from the store instead (`config` is then
    unused); empty: pre-train skills by `config`."""
    start_from: str = text("")
    """Fine-tuning: a new run starts from this checkpoint's networks (all of a learner's
    checkpoint; embedding and policy of an actor checkpoint). It trains by `config` when one is
    given, as `skill-embedding train --config C --start-from F` does; else by the checkpoint's
    own run config, with no warm-up (the networks are trained). train.env_steps counts this
    run's steps. A run directory that holds a checkpoint of its own resumes from that instead.
    Empty: fresh networks."""
    store: str = text("runs/graph/store", nonempty=True)
    """Directory of the replay store the recorder writes."""
    out: str = text("runs/graph", nonempty=True)
    """Run directory: checkpoint, TensorBoard scalars, progress.jsonl."""
    device: str = torch_device("cpu")
    """Torch device ("cpu", "cuda"); this machine must have it."""
    niceness: int = integer(0, "[0, 19]")
    """Added to the nice value of every thread of the process at start-up (priority.py). A
    learner that fine-tunes beside a robot's driver, gate and policy on one machine gets 10 in
    the deploy graphs: training takes every cycle it is given, and a control node starved for
    60 ms stops the arm."""
    publish_every: int = integer(50, ">= 1")
    """Learner updates between weight broadcasts."""
    checkpoint_period: float = number(30.0, "positive")
    """Seconds between atomic checkpoints (and at exit)."""
    scan_period: float = number(1.0, "positive")
    """Seconds between scans of the store for new chunks."""
    weights_key: str = text("")
    """File with the key to sign /policy_weights with (agent/weights_signature.py); empty: the
    weights go out unsigned."""
    seed: int = integer(-1, "[-1, 4294967295]")
    """The run's train.seed (the learner's torch and replay sampling, and what its config.yaml
    and checkpoint record); -1 keeps the run config's. A graph passes its own `seed` argument,
    so every process of a graph run follows the one seed."""

    def __post_init__(self):
        validate(self, host=True)  # the learner node runs where its parameters are read

    def run_config(self) -> RunConfig:
        """The run config this learner trains: `config` (or `start_from`'s) with `seed`
        applied (ValueError when the file or a value is wrong)."""
        seed = None if self.seed < 0 else self.seed
        if self.config or not self.start_from:
            return load_run_config(self.config or DEFAULT_RUN_CONFIG, seed=seed)
        from skill_embedding_ros.agent.checkpoint import read_checkpoint

        values = read_checkpoint(self.start_from)[1].get("config")
        if not isinstance(values, dict):
            raise ValueError(f"{self.start_from} carries no run config in its metadata")
        if seed is not None:
            values["train"]["seed"] = seed
        values["train"]["warmup_steps"] = 0  # trained networks: updates from the first episode
        return from_dict(RunConfig, values)


@dataclass
class BagRecordConfig(Settings):
    """Bag recorder node: which topics go into which bag."""

    out: str = text("rosbag", nonempty=True)
    """Bag directory to create (must not exist): metadata.yaml + the storage file."""
    topics: tuple[str, ...] = items(
        ("*",), str, "a non-empty list of non-empty topic patterns", lambda v: bool(v) and all(v)
    )
    """Topic names or fnmatch patterns (absolute, e.g. /actor_*/joint_states); "*": all."""
    storage: str = choice("mcap", ("mcap", "sqlite3"))
    """mcap (rosbag2's default since Iron) or sqlite3."""
    duration: float = number(0.0, ">= 0")
    """Seconds (wall clock) to record before exiting 0; 0 records until Ctrl-C."""
    scan_period: float = number(0.1, "positive")
    """Seconds between scans of the graph for new topics matching `topics` (a scan costs about
    50 us; what a volatile topic sends before the subscription matches is lost)."""
    depth: int = integer(1000, ">= 1")
    """Queue depth of every subscription: a busy recorder falls behind before it drops."""
    log_time: str = choice("send", ("send", "receive"))
    """Log time of a message: send (the publisher's source timestamp) keeps the causal order of
    a lockstep chain (command -> the state it caused, sub-millisecond apart), which reception
    times across topics do not always keep; receive (as `ros2 bag record`). Both system clock."""


# Hardware, teleop and trial nodes keep their parameters in files of their own.
from skill_embedding_ros.settings.arm_driver import ArmDriverConfig  # noqa: E402, F401
from skill_embedding_ros.settings.emulator import EmulatorConfig  # noqa: E402, F401
from skill_embedding_ros.settings.markers import MarkersConfig  # noqa: E402, F401
from skill_embedding_ros.settings.perception import ArucoConfig, StaticPoseConfig  # noqa: E402, F401
from skill_embedding_ros.settings.teleop import KeyboardTeleopConfig  # noqa: E402, F401
from skill_embedding_ros.settings.trials import TrialConfig  # noqa: E402, F401
