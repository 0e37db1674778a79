"""Settings of a transfer run (docs/transfer.md): a high-level policy over frozen skills.

The skills bring their own settings (their checkpoint's run config: networks, z family, gamma);
these are only what the new mapping and its training need."""

from __future__ import annotations

from dataclasses import dataclass, field

from skill_embedding_ros.settings.base import (
    Settings,
    choice,
    flag,
    from_dict,
    integer,
    number,
    random_seed,
    sizes,
    text,
)
from skill_embedding_ros.settings.run import config_section, read_config_file

METHODS = ("embedding", "selection")
SKILL_ACTIONS = ("sample", "mean")


@dataclass
class TransferConfig(Settings):
    """One transfer run: the high-level policy, how long z is held, and the training budget."""

    method: str = choice("embedding", METHODS)
    """embedding: HL(z|s) over the whole embedding space (the method); selection: a
    categorical over the pre-training task ids, each mapped to its task's code (the baseline)."""
    skill_actions: str = choice("sample", SKILL_ACTIONS)
    """How the frozen skills act while the run collects: sample (their stochastic policy, as
    in pre-training) or mean (their mean action; exploration is then the high-level policy's
    alone). Evaluation always takes the mean."""
    hold: int = integer(10, ">= 1")
    """K: low-level steps each high-level z is held (1: a new z every step). It must divide
    the suite's episode length, so every high-level step discounts by gamma^K."""
    env_steps: int = integer(20_000, ">= 1")
    """Low-level environment steps of the run (the budget the baselines get too)."""
    envs: int = integer(8, ">= 1")
    """Environments stepped side by side (one batched call per step)."""
    updates_per_step: float = number(0.25, "positive")
    """Learner updates per low-level environment step, as in pre-training."""
    warmup_steps: int = integer(1_000, ">= 0")
    """Low-level steps collected before the first update."""
    alpha: float = number(0.0, ">= 0")
    """Weight of the high-level entropy H[HL(.|s)], per low-level step of reward (scaled by the
    discounted hold, as alpha1 of the embedding). 0: in one seed (between, K = 10, 10 k steps)
    0.05 and 0.005 held HL at its widest and scored 0 % (docs/transfer.md); barely tuned."""
    normalize: bool = flag(True)
    """The high-level policy and critic read the state standardized by the skills' own
    statistics (frozen; entries past the skills' observation stay raw), when the skills have
    them (agent.normalize). On the arm's 34-D state the raw inputs span angles, velocities and
    metres; the skills themselves needed standardizing (docs/jaco_transfer.md)."""
    auto_alpha: bool = flag(False)
    """Learn alpha, as SAC's temperature, so that the high-level policy's entropy stays near
    target_entropy (starting from alpha, or 1e-3 when alpha is 0). On the arm alpha = 0 let HL
    commit to a point z per state within a few hundred updates, and the alphas > 0 tried held
    it at its widest (docs/jaco_transfer.md)."""
    target_entropy: float = number(1.0)
    """Nats of HL(.|s) per decision that auto_alpha holds: a 3-D Gaussian of unit width has
    4.3, the skills' widest 7.3; the selection baseline's is at most log(tasks)."""
    hidden: tuple[int, ...] = sizes((128, 128))
    """Hidden layers of the high-level policy (ELU), as the tuned skills' policy."""
    critic_hidden: tuple[int, ...] = sizes((128, 128))
    """Hidden layers of the high-level critic Q(s, z)."""
    twin_critics: bool = flag(False)
    """Two high-level critics; the smaller of their values is what the targets bootstrap from
    and what the policy climbs (clipped double Q-learning, as TD3 and SAC). On the arm the one
    critic valued L-wall's first decision at 3-5 times its return (docs/jaco_transfer.md)."""
    lr: float = number(3e-4, "(0, 1]")
    """Adam learning rate of the policy and the critic (the tuned configs' rate)."""
    tau: float = number(0.005, "(0, 1]")
    """Polyak rate of the target critic."""
    retrace_lambda: float = number(1.0, "[0, 1]")
    """lambda of the Retrace traces over high-level steps."""
    batch: int = integer(32, ">= 1")
    """Segments per update."""
    segment: int = integer(5, ">= 1")
    """High-level steps per segment (an episode of 50 steps held 10 has 5)."""
    capacity: int = integer(100_000, ">= 1")
    """High-level steps kept in replay."""
    seed: int = random_seed(0)
    """Seeds torch, numpy and every environment."""
    threads: int = integer(1, ">= 1")
    """torch threads (1 lets two runs share a 2-core machine)."""
    log_every: int = integer(2_000, ">= 1")
    """Low-level steps between progress.jsonl rows."""
    eval_every: int = integer(20_000, ">= 0")
    """Low-level steps between evaluations during the run (the evaluation's rules and seeds,
    eval_episodes episodes, the first before any update); rows `eval/*_task0` in
    progress.jsonl. 0: none. Training's own success is of sampled skill actions; this is of
    their means, as the final evaluation."""
    eval_episodes: int = integer(10, ">= 1")
    """Episodes per evaluation during the run."""


@dataclass
class TransferFile(Settings):
    """A transfer run as one YAML file (config/transfer/*.yaml): which skills, which new task,
    and the settings above under `transfer:`. The graph's learner and skill policies read it
    (their `transfer` parameter), as `skill-embedding transfer` reads its flags."""

    skills: str = text("")
    """Pre-training run directory or checkpoint whose skills are frozen (a path)."""
    task: str = text("")
    """The new task, of `suite`."""
    suite: str = text("")
    """Suite of the task; empty: the skills' own (transfer/skills.py says what another needs)."""
    transfer: TransferConfig = field(default_factory=TransferConfig)
    """The high-level policy and its training (the keys of TransferConfig)."""


def load_transfer_file(path: str, seed: int | None = None) -> TransferFile:
    """A transfer run file (a path, else under config/transfer/), with `seed` applied when
    given. Raises ValueError naming the file and what is wrong."""
    values = read_config_file(path, "transfer")
    if seed is not None:
        config_section(values, "transfer")["seed"] = seed
    try:
        run = from_dict(TransferFile, values)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    missing = [key for key in ("skills", "task") if not getattr(run, key)]
    if missing:
        raise ValueError(
            f"{path}: a transfer run names its {' and '.join(missing)} (settings/transfer.py "
            "TransferFile)"
        )
    return run
