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
