"""One learner update replayed as a CUDA graph (agent.cuda_graph).

At the configs' batches a GPU update is bound by launching its kernels, not by running them:
512 small kernels (benchmarks/profile_learner.py), each launched from Python. A CUDA graph
records those launches once and replays them as one: 352 updates/s against 51 op by op on an
H200 at 256 segments (benchmarks/results_core_cuda.json, docs/speed.md). What a replay needs
(torch.cuda.graphs): the same input tensors each time (the batch is copied into them), the same
shapes, no value read back to the CPU inside, and optimizers that keep their step counts on the
GPU (Adam's `capturable`). Random draws stay random: each replay takes the generator's current
seed and offset, as eager kernels do.

What a config may not do inside a graph, `graph_problem` names, and such a learner runs op by op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

WARMUP_UPDATES = 3
"""Updates run op by op on a side stream before the capture: they create the optimizers'
moments and the libraries' handles, which a capture cannot allocate (torch.cuda.graphs)."""


def graph_problem(nets, device: torch.device) -> str:
    """Why this learner's updates cannot be one CUDA graph, or "" when they can."""
    cfg = nets.cfg
    if device.type != "cuda":
        return "not on a CUDA device"
    if not cfg.cuda_graph:
        return "agent.cuda_graph is false"
    # Each of these indexes the batch by its valid steps, a shape only the data decides.
    if nets.policy.obs_norm is not None:
        return "agent.normalize counts each batch's valid states"
    if cfg.imitation > 0:
        return "agent.imitation picks each batch's demonstrated steps"
    if nets.anchor is not None:
        return "agent.anchor picks each batch's valid steps"
    return ""


@contextmanager
def side_stream(device: torch.device) -> Iterator[None]:
    """Kernels inside go to a stream of their own, ordered after and before the current one's:
    where warm-up updates run before a capture (torch.cuda.graphs' whole-network example)."""
    current = torch.cuda.current_stream(device)
    stream = torch.cuda.Stream(device)
    stream.wait_stream(current)
    with torch.cuda.stream(stream):
        yield
    current.wait_stream(stream)


def _layout(arrays: dict) -> dict[str, tuple]:
    return {k: (tuple(v.shape), torch.as_tensor(v).dtype) for k, v in arrays.items()}


class GraphedStep:
    """`step(inputs)` captured once on `inputs` (tensors on the GPU, which every replay reads);
    calling it copies a batch of the same layout into them and replays the capture, returning
    the tensors the capture returned (overwritten by each replay)."""

    def __init__(self, step: Callable, inputs: dict[str, torch.Tensor]):
        self.inputs = inputs
        self.layout = _layout(inputs)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = step(inputs)

    def fits(self, arrays: dict[str, np.ndarray]) -> bool:
        """Same names, shapes and types as the capture's inputs."""
        return _layout(arrays) == self.layout

    def __call__(self, arrays: dict[str, np.ndarray]):
        for name, array in arrays.items():
            self.inputs[name].copy_(torch.as_tensor(array))
        self.graph.replay()
        return self.output
