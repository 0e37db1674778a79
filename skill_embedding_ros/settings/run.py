"""One dataclass per component holds every default; YAML files and ROS parameters only override
them, through `from_dict` (one mapping, one place that rejects unknown keys).

Each setting declares what it allows next to its default (settings/base.py): a bad value is a
one-line error naming section.key, the value and the allowed range, raised when the object is
built, so before anything (run directory, store, checkpoint) is made from it."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from skill_embedding_ros.paths import data_dir
from skill_embedding_ros.settings.base import (
    Allowed,
    SettingError,
    Settings,
    choice,
    flag,
    from_dict,
    integer,
    items,
    number,
    random_seed,
    setting,
    sizes,
    text,
    torch_device,
    validate,
)


def _suites_shown() -> str:
    from skill_embedding_ros.tasks.registry import suite_names

    return f"one of {', '.join(map(repr, suite_names()))} or a plug-in's 'module:ATTRIBUTE'"


def _suite_problem(_config, name: str) -> str | None:
    """Why a plug-in's "module:ATTRIBUTE" does not load, or None."""
    from skill_embedding_ros.tasks.registry import get_suite  # lazy: a plug-in may load MuJoCo

    if ":" not in name:
        return None  # a plain name: the allowed list says it all
    try:
        get_suite(name)
    except ValueError as err:
        return str(err)
    return None


def _is_suite(name: str) -> bool:
    from skill_embedding_ros.tasks.registry import suite_names

    return ":" in name or name in suite_names()


def suite_name(default: str):
    """A setting naming a task suite (tasks/registry.py): built in, installed, or a plug-in."""
    return setting(default, Allowed(str, _suites_shown, _is_suite, relation=_suite_problem))


def _demo_store_problem(path: str) -> str | None:
    """What train.demos must be instead, or None: empty, or a store directory with a chunk."""
    from skill_embedding_ros.data.store_chunks import chunk_entries

    if not path:
        return None
    if not Path(path).is_dir():
        return f"a replay store directory (there is none at {path})"
    if not chunk_entries(Path(path)):
        return f"a replay store with episodes (no chunk in {path}: skill-embedding ingest --into)"
    return None


def _unknown_task(train: TrainConfig, tasks: tuple[str, ...]) -> str | None:
    """Why `tasks` are not all tasks of train.suite (declared before tasks), or None."""
    from skill_embedding_ros.tasks.registry import get_suite

    try:
        for task in tasks:
            get_suite(train.suite).check_task(task)
    except ValueError as err:
        return str(err)
    return None


@dataclass
class AgentConfig(Settings):
    """Networks and the entropy-regularized objective (Hausman et al. 2018, Sec. 3)."""

    embedding: str = choice("bernoulli", ("gaussian", "bernoulli", "none"))
    """Family of p(z|t): Gaussian (reparameterized) or Bernoulli bits (relaxed for gradients);
    none: the no-embedding ablation, z held at zeros (z_dim wide) with no entropy or inference
    term, everything else the same, so a row shows what the embedding adds."""
    z_dim: int = integer(2, ">= 1")
    """Size of the latent z (Bernoulli: number of bits, so 2**z_dim codes)."""
    hidden: tuple[int, ...] = sizes((100, 100))
    """Hidden layers of the policy and the inference network (the paper's 100, 100; ELU). The
    tuned didactic configs depart from it (128, 128; docs/experiments.md)."""
    critic_hidden: tuple[int, ...] = sizes((200, 200))
    """Hidden layers of the critic (the paper's 200, 200)."""
    activation: str = choice("elu", ("elu", "relu"))
    """Hidden-layer activation of every network: elu (the paper's) or relu (cheaper per update
    on a CPU: benchmarks/bench_core.py measures both; no result row uses it)."""
    precision: str = choice("float32", ("float32", "bfloat16"))
    """Arithmetic of the learner's layers: float32 (the paper's; every result row) or bfloat16,
    mixed precision: the layers of the policy, the critics and the inference network run under
    torch.autocast in bfloat16 while weights, optimizer moments, the embedding's linear map,
    losses and Retrace stay float32 (agent/networks.py MLP). Faster where the hardware
    multiplies bfloat16 (a CPU with AVX512-BF16 or AMX, a recent GPU) and the batch is large:
    1.5 x float32 at 256 segments on an AVX512-BF16 CPU, no faster at the configs' 32
    (benchmarks/bench_core.py, docs/speed.md); 3-7 x slower where it does not (an AVX2 CPU:
    the learner warns as it starts). Actors and evaluations act in float32 whatever the run's
    precision: the weights they get are float32."""
    cuda_graph: bool = flag(True)
    """On a CUDA device, replay each update as one CUDA graph instead of launching its kernels
    one by one (agent/cuda_graph.py): the same arithmetic, launched at once. Runs that normalize,
    imitate or anchor update op by op whatever this says (their batches pick rows by value).
    No effect on a CPU."""
    compile: bool = flag(False)
    """Run the learner's layers (every MLP) under torch.compile (inductor) in its updates;
    actors and evaluations act eagerly. Inductor's kernels are not eager's to the bit (updates
    within 1e-5 of eager's, test/test_compile.py); the first updates compile (seconds; a C++
    compiler is needed on a CPU). Measured in turn with eager (benchmarks/bench_core.py,
    docs/speed.md): faster on an AVX2 CPU, slower on an AVX512 one and on a GPU."""
    normalize: bool = flag(False)
    """Standardize the observation input of every network with running statistics of the
    replayed states (agent/normalizer.py), which travel with the policy's weights. Not in the
    paper, whose networks read raw metres and radians; false, the default, keeps its networks
    and the shapes of every committed checkpoint."""
    history: int = integer(4, ">= 1")
    """H: states (and actions) in the inference network's window q(z | a, s^H)."""
    inference_actions: bool = flag(True)
    """Whether q sees the actions of its window, or states only (then codes must differ in
    where they go, not only in how they move)."""
    inference_noise: float = number(0.0, ">= 0")
    """Std of Gaussian noise added to the states q sees (observation units, m here): skills
    closer than this cannot be told apart, so q rewards distinct outcomes, not tiny offsets."""
    alpha1: float = number(1.0, ">= 0")
    """Weight of the embedding entropy H[p(z|t)], per step of reward held by one z."""
    alpha2: float = number(1.0, ">= 0")
    """Weight of log q(z | a, s^H) in the augmented reward, per step; 0 removes the term."""
    alpha3: float = number(0.01, ">= 0")
    """Weight of the policy entropy H[pi(a|s,z)] in the augmented reward, per step."""
    gamma: float = number(0.99, "[0, 1)")
    """Discount per control step (1 would make the discounted hold of a z infinite)."""
    retrace_lambda: float = number(1.0, "[0, 1]")
    """lambda in the Retrace traces c = lambda * min(1, pi p / (b b_z)); 0 gives 1-step TD."""
    imitation: float = number(0.0, ">= 0")
    """Weight of a behaviour-cloning term in the policy's loss (squared error between its mean
    action and the replayed one, per action dimension, agent/losses.py) at steps whose action
    did not come from the policy: demonstrations (train.demos, ingested bags) and teleop
    corrections. Not in the paper; 0, the default, leaves its method unchanged."""
    anchor: float = number(0.0, ">= 0")
    """Weight of a term in the policy's loss that keeps its mean action, on replayed states, near
    the mean action of the policy the run started from (`--start-from`, held frozen), by the
    imitation term's squared error. For fine-tuning skills that were not learned with these
    critics (an imitation policy, an actor checkpoint), whose fresh critics otherwise undo them
    (docs/hardware.md, fine-tuning). Not in the paper; 0, the default, leaves it unchanged."""
    anchor_per_q: bool = flag(False)
    """Scale the anchor's weight by the mean |Q| of the policy's actions over the batch's valid
    steps (detached), as TD3+BC scales its cloning term against the Q term: the critic's values
    grow as it learns (values/q from 7 to about 50 in the Jaco runs), and a fixed weight holds
    ever less (docs/jaco_pretraining.md). Then `anchor` is the weight per unit of |Q|."""
    lr: float = number(1e-4, "(0, 1]")
    """Adam learning rate for every network (the paper's 1e-4; the tuned configs use 3e-4)."""
    tau: float = number(0.005, "(0, 1]")
    """Polyak rate of the target critic (fraction moved per update)."""
    temperature: float = number(0.5, "positive")
    """Temperature of the relaxed Bernoulli used for gradients through binary z."""
    code_scale: float = number(1.0, "positive")
    """Bernoulli bits enter the policy and the critic as +-code_scale (networks.z_features)."""
    log_std_bounds: tuple[float, float] = items(
        (-5.0, 1.0), float, "[low, high] with low < high", lambda v: len(v) == 2 and v[0] < v[1]
    )
    """Bounds on Gaussian log standard deviations: the policy clamps to them; the embedding and
    the inference network squash into them smoothly (distributions.bounded_log_std), so the
    gradient to the embedding's width never stops at a bound."""


@dataclass
class ReplayConfig(Settings):
    """Trajectory replay."""

    capacity: int = integer(100_000, ">= 1")
    """Transitions kept; the oldest whole episodes leave first (paper: 1e5). At least one whole
    episode of the suite (checked by RunConfig)."""
    segment: int = integer(10, ">= 1")
    """T: steps per sampled segment for the Retrace target."""
    batch: int = integer(32, ">= 1")
    """Segments per learner update (paper: 32 per worker)."""
    relabel: float = number(0.0, "[0, 1]")
    """Fraction of segments the critic scores for a task drawn uniformly from all tasks, with
    that task's reward recomputed from the observations (data/relabel.py); 0 keeps each
    segment's own task. Lets a task learn from episodes collected under the others."""
    hindsight: float = number(0.0, "[0, 1]")
    """Fraction of segments whose goal is replaced by what their episode reached after them, the
    rewards recomputed (data/relabel.py; not in the paper). Needs a suite whose observation
    holds a goal (its `goal`); 0: off."""


@dataclass
class TrainConfig(Settings):
    """One training run: which suite and tasks, how long, how actors and learner are paced."""

    suite: str = suite_name("reach")
    """Task suite: "reach", "push" (the point mass) or a plug-in (tasks/registry.py)."""
    tasks: tuple[str, ...] = items(
        ("any",), str, "a non-empty list of tasks of train.suite", bool, relation=_unknown_task
    )
    """Task of each task id t; the same name twice gives two identical tasks."""
    env_steps: int = integer(60_000, ">= 1")
    """Total environment steps over all actors."""
    envs_per_actor: int = integer(8, ">= 1")
    """Environments each actor steps side by side (one batched policy call per step)."""
    actor_processes: int = integer(0, ">= 0")
    """Actor processes feeding the learner; 0 runs one actor inline (deterministic per seed)."""
    updates_per_step: float = number(0.25, "positive")
    """Learner updates per environment step (replay ratio)."""
    warmup_steps: int = integer(2_000, ">= 0")
    """Environment steps collected before the first update."""
    z_hold: int = integer(0, ">= 0")
    """Steps a sampled z is held; 0 holds it for the whole episode."""
    weight_sync_updates: int = integer(50, ">= 1")
    """Actors receive fresh weights after this many learner updates."""
    seed: int = random_seed(0)
    """Seeds torch, numpy and every environment."""
    threads: int = integer(1, ">= 1")
    """torch intra-op threads of the learner (1 lets two runs share a 2-core machine)."""
    log_every: int = integer(2_000, ">= 1")
    """Environment steps between TensorBoard/log rows."""
    checkpoint_every: int = integer(20_000, ">= 1")
    """Environment steps between checkpoints."""
    eval_every: int = integer(0, ">= 0")
    """Environment steps between evaluations during training (strict success, solutions,
    return, KL to progress.jsonl and TensorBoard as eval/*); 0: none. They run on their own envs
    and generators: training is bit-identical with them on or off. The graph's learner evaluates
    when its store count passes each multiple (one point when a store chunk passes several)."""
    eval_episodes: int = integer(20, ">= 1")
    """Episodes per task of each evaluation during training (fixed seed)."""
    solutions_target: int = integer(0, ">= 0")
    """Strict solutions per task whose first evaluation point summary.json and eval.json report
    (env_steps_to_solutions); at most the task's own count; 0: all of the task's solutions."""
    demos: str = text("", host=_demo_store_problem)
    """A replay store (docs/replay_store.md) whose episodes fill replay before the first step,
    e.g. scripted demonstrations ingested from bags (`skill-embedding ingest --into STORE`):
    replay's oldest episodes, the first to leave it. Empty: none."""
    device: str = torch_device("cpu")
    """Torch device of the learner ("cpu", "cuda"); `load_run_config` checks that this machine
    has it (a checkpoint's config is read anywhere)."""


@dataclass
class RunConfig:
    """Everything one run needs; what a YAML file under config/ describes."""

    agent: AgentConfig = field(default_factory=AgentConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        from skill_embedding_ros.tasks.registry import get_suite

        suite = get_suite(self.train.suite)
        steps = suite.episode_steps  # an episode is stored whole
        if self.replay.capacity < steps:
            got = f"one {self.train.suite} episode), got {self.replay.capacity}"
            raise SettingError("replay.capacity", f" must be >= {steps} ({got}")
        if self.replay.hindsight > 0 and suite.goal is None:
            raise SettingError(
                "replay.hindsight",
                f" needs a goal in the observation; suite {self.train.suite!r} has none (set 0)",
            )


def to_dict(config: Any) -> dict[str, Any]:
    """Plain, YAML/JSON-ready dict of a config dataclass."""
    return dataclasses.asdict(config)


CONFIG_DIR = data_dir("config")


def read_config_file(path: str, folder: str = "") -> dict:
    """The mapping a YAML config file holds: `path` as given, else under config/`folder`.
    Raises ValueError naming the file and what is wrong with it."""
    p, where = Path(path), CONFIG_DIR / folder
    if not p.is_file() and (where / path).is_file():
        p = where / path
    if not p.is_file():
        raise ValueError(f"config file {path} not found (looked in . and {where})")
    try:
        values = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{p} is not valid YAML: {err}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{p} must hold a mapping of sections, got {type(values)}")
    return values


def add_set_option(parser: argparse.ArgumentParser, example: str = "agent.alpha2=0") -> None:
    """`--set SECTION.KEY=VALUE` (repeatable) on a command line: the overrides that
    `load_run_config` applies, in the one format every command takes them in."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help=f"override one config value, e.g. {example} (repeatable)",
    )


def load_run_config(
    path: str | None, overrides: tuple[str, ...] = (), seed: int | None = None, host: bool = True
) -> RunConfig:
    """YAML file (under config/ or a path; None: the defaults) + `section.key=value` overrides
    -> RunConfig. Raises ValueError (a SettingError for a bad value) saying what is wrong and
    where. `host`: also check that this machine has what the config names (train.device), as a
    run about to start here needs; a checkpoint's config (`from_dict`) is read anywhere."""
    values = read_config_file(path) if path else {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or "." not in key:
            raise ValueError(f"--set expects section.key=value, got {item!r}")
        section, name = key.split(".", 1)
        try:
            config_section(values, section)[name] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ValueError(f"--set {item}: the value is not valid YAML") from None
    if seed is not None:
        config_section(values, "train")["seed"] = seed
    cfg = from_dict(RunConfig, values)
    for f in dataclasses.fields(cfg) if host else ():
        try:
            validate(getattr(cfg, f.name), host=True)
        except SettingError as err:
            raise err.within(f.name) from None
    return cfg


def config_section(values: dict, name: str) -> dict:
    """The mapping of section `name` in `values`, made when absent, to override keys in."""
    if values.get(name) is None:
        values[name] = {}
    if not isinstance(values[name], dict):
        raise SettingError(name, f" must be a section (a mapping of keys), got {values[name]!r}")
    return values[name]
