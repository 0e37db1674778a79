"""Observation standardization inside the networks (agent.normalize; not in the paper).

The networks otherwise see raw observations: metres, radians and their rates, whose scales differ
by two orders of magnitude on an arm (a block's height varies by centimetres, a joint's rate by
radians per second). Imitating the Jaco's reactive expert, six DAgger rounds lifted in 0 % of
the episodes on raw inputs and in 20 % with the policy's input standardized, 70 % after 14
rounds (docs/jaco_pretraining.md), so the learner can standardize every network's observation
input with statistics of the replayed states.

The statistics are buffers of the policy, so they travel with its weights: to actors, into actor
checkpoints and into frozen skills, and every consumer normalizes exactly as the learner did.
The critic and the inference network read the same module. Only the learner updates them
(`Normalizer.update`), from the valid states of each batch it trains on.
"""

from __future__ import annotations

import torch
from torch import nn

from skill_embedding_ros.data.validation import VALUE_BOUND

MAX_COUNT = VALUE_BOUND
"""States the statistics weigh at most. Past it, each batch moves them by its share of MAX_COUNT
(an exponential average over about MAX_COUNT states: 3,000 updates of the Jaco configs' 320
states), so they follow the replay buffer as the policy's states change instead of freezing on
the first hours' states. The count travels in weights messages, whose values may not pass
VALUE_BOUND (1e6), hence this cap."""
MIN_STD = 0.05
"""Smallest standard deviation divided by (observation units). A dimension that hardly varies
(a fixed goal, a block at rest) is not blown up into noise; the DAgger measurement used it."""
CLIP = 5.0
"""Standardized inputs are clipped to +-CLIP standard deviations, so one far-out state cannot
saturate a network."""


def merge_moments(
    count: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, batch: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Running (count, mean, var) merged with a batch of states [N, S] (Chan et al.'s parallel
    update), the count capped at MAX_COUNT. An empty batch leaves them as they are."""
    n = batch.shape[0]
    if n == 0:
        return count, mean, var
    batch_mean = batch.mean(0)
    batch_var = batch.var(0, unbiased=False)
    total = count + n
    delta = batch_mean - mean
    new_mean = mean + delta * (n / total)
    new_var = (count * var + n * batch_var + delta.square() * (count * n / total)) / total
    return total.clamp(max=MAX_COUNT), new_mean, new_var


class Normalizer(nn.Module):
    """x -> clip((x - mean) / max(std, MIN_STD), +-CLIP) over the last dimension. Before the
    first update it is the identity (mean 0, variance 1) up to the clip."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("count", torch.zeros(()))
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        std = self.var.sqrt().clamp(min=MIN_STD)
        return ((obs - self.mean) / std).clamp(-CLIP, CLIP)

    @torch.no_grad()
    def update(self, states: torch.Tensor) -> None:
        """Fold states [N, S] into the statistics."""
        count, mean, var = merge_moments(self.count, self.mean, self.var, states.float())
        self.count.copy_(count)
        self.mean.copy_(mean)
        self.var.copy_(var)
