"""The replay ratio, in one place: how many updates env steps ask for, and how far actors may run
ahead of the learner. The in-process trainer, the learner over a store and the skill-policy node
all pace by these functions."""

from __future__ import annotations


def updates_due(env_steps: int, train) -> int:
    """Learner updates the replay ratio asks for after `env_steps` (none during warm-up)."""
    return int(max(0, env_steps - train.warmup_steps) * train.updates_per_step)


def steps_learned(updates: int, train) -> int:
    """Env steps that `updates` learner updates have used up (the warm-up included)."""
    return train.warmup_steps + int(updates / train.updates_per_step)


def backlog(env_steps: int, updates: int, train) -> int:
    """Env steps the learner holds beyond what its updates have used: what actors may add
    before the replay ratio is exceeded is `lead - backlog`."""
    return env_steps - steps_learned(updates, train)


def actor_paced_out(
    learner: dict[str, int] | None,
    own_steps: int,
    actors: int,
    lead_episodes: float,
    episode_steps: int,
    train,
) -> bool:
    """Whether an explorer (one of `actors`) must wait before starting another episode.

    The learner's backlog from its last /policy_weights counts (`learner`: updates, env_steps;
    None: no learner heard from, never paced), plus what the actors made since (this one's
    `own_steps` times `actors`), must stay under `lead_episodes` episodes per actor. Counting
    what the learner *received* (not what actors sent) means lost episodes cannot stall the
    graph, and the learner re-broadcasts its counts every few seconds, so a paused explorer
    always hears when to go on. `actors` <= 0: pacing off.
    """
    if actors <= 0 or learner is None:
        return False
    behind = backlog(learner.get("env_steps", 0), learner["updates"], train)
    behind += own_steps * actors
    return behind >= actors * lead_episodes * episode_steps
