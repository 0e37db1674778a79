"""Checkpoints and weight messages as safetensors: tensors plus a JSON header, never pickle.

A checkpoint holds every network, the optimizer moments and the run's config; weights for
actors hold only the embedding and the policy. Loading checks names and shapes and says which
differ, so a checkpoint of another shape fails with a clear message instead of a torch error.
Nothing non-finite is written or loaded: a NaN in a checkpoint would survive every resume, and
one in a broadcast would reach every actor (data/validation.py).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, load_file, save, save_file

from skill_embedding_ros.data.validation import nonfinite_tensors

PM1_CODES = 2
"""The format from which Bernoulli bits enter the policy and the critic centred on 0, as
+-agent.code_scale (networks.z_features; the scale is in the checkpoint's config and defaults to
1); format 1 (unmarked) fed them as 0/1, so such a checkpoint has the right shapes but would act
as another policy."""
SMOOTH_LOG_STD = 3
"""The format from which a Gaussian embedding's and inference network's log std outputs pass
through distributions.bounded_log_std; before, a clamp, so an older Gaussian checkpoint's
widths would be misread (Bernoulli tensors mean the same in both)."""
FORMAT = SMOOTH_LOG_STD
"""Checkpoint format written now, raised when the same tensors come to mean something else."""


def _optimizer_tensors(name: str, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for i, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            out[f"optim.{name}.{i}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return out


def _load_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict) -> None:
    state_dict = opt.state_dict()
    prefix = f"optim.{name}."
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            index, field = key[len(prefix) :].split(".", 1)
            state.setdefault(int(index), {})[field] = value
    state_dict["state"] = state
    opt.load_state_dict(state_dict)


def checkpoint_tensors(learner) -> dict[str, torch.Tensor]:
    """The learner's whole training state (networks and optimizer moments) as a flat tensor dict,
    named as a checkpoint names it. On the CPU the tensors are the live ones, not copies."""
    tensors = {
        f"nets.{k}": v.detach().cpu().contiguous() for k, v in learner.nets.state_dict().items()
    }
    for name, opt in learner.optimizers.items():
        tensors.update(_optimizer_tensors(name, opt))
    return tensors


STALE_CHECKPOINT = (
    "a checkpoint written before the finite guard may hold them: delete it or use another run "
    "directory"
)
UNVERIFIED = "call Learner.verify first, which rolls a non-finite state back"


def check_finite(tensors: dict[str, torch.Tensor], what: str, hint: str = STALE_CHECKPOINT):
    """Raise ValueError naming the non-finite tensors of `what` and what to do, if any."""
    bad = nonfinite_tensors(tensors)
    if bad:
        raise ValueError(
            f"{what} holds non-finite values in {len(bad)} tensor(s), e.g. {bad[:3]}; {hint}"
        )


def save_checkpoint(path: str | Path, learner, metadata: dict[str, Any]) -> None:
    """Atomically write the learner's networks, optimizers and `metadata` (JSON-able).

    Raises ValueError (and writes nothing) if any tensor is non-finite: callers run
    `Learner.verify` first, which rolls such a state back."""
    tensors = checkpoint_tensors(learner)
    check_finite(tensors, "the learner's state", UNVERIFIED)
    _write(path, tensors, {**metadata, "updates": learner.updates, "format": FORMAT})


ACTOR = "actor"
"""`kind` of a checkpoint that holds only what acts (embedding and policy)."""
ACTOR_CHECKPOINT = "policy.safetensors"
"""Its file name in a run directory, beside checkpoint.safetensors."""


def save_actor_checkpoint(path: str | Path, learner, metadata: dict[str, Any]) -> None:
    """Atomically write only the embedding and the policy (a tenth of a checkpoint, no
    optimizer state): all that evaluation needs, small enough to commit beside a results row so
    anyone can re-evaluate it (`skill-embedding evaluate RUN_DIR`). Non-finite: ValueError."""
    tensors = {f"nets.{k}": v for k, v in learner.nets.actor_state().items()}
    check_finite(tensors, "the learner's policy", UNVERIFIED)
    meta = {**metadata, "updates": learner.updates, "format": FORMAT, "kind": ACTOR}
    _write(path, tensors, meta)


def _write(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, tmp, metadata={"metadata": json.dumps(meta)})
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and metadata of a checkpoint file, with a clear error for an unreadable one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        tensors = load_file(path)
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(header_len))
        metadata = json.loads(header.get("__metadata__", {}).get("metadata", "{}"))
    except (SafetensorError, ValueError, OSError) as err:
        raise ValueError(f"{path} is not a readable safetensors checkpoint: {err}") from None
    check_format(metadata, str(path))
    return tensors, metadata


def check_format(metadata: dict[str, Any], what: str) -> None:
    """Raise ValueError for a checkpoint these networks would misread (see FORMAT)."""
    fmt = int(metadata.get("format", 1))
    embedding = metadata.get("config", {}).get("agent", {}).get("embedding")
    if fmt > FORMAT:
        raise ValueError(f"{what} has checkpoint format {fmt}; this version reads <= {FORMAT}")
    if fmt < PM1_CODES and embedding == "bernoulli":
        raise ValueError(
            f"{what} is a format-{fmt} checkpoint whose Bernoulli codes entered the networks as "
            "0/1; this version centres them on 0, so its policy would act differently. Retrain, "
            "or evaluate it with the commit that trained it."
        )
    if fmt < SMOOTH_LOG_STD and embedding == "gaussian":
        raise ValueError(
            f"{what} is a format-{fmt} checkpoint whose Gaussian log std was clamped; this "
            "version bounds it smoothly, so its widths would be misread. Retrain, or evaluate "
            "it with the commit that trained it."
        )


def check_shapes(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor], what: str):
    """Raise ValueError listing missing, unexpected and mis-shaped tensors."""
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    wrong = [
        f"{k}: {tuple(got[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in got and got[k].shape != v.shape
    ]
    if missing or extra or wrong:
        raise ValueError(
            f"{what} does not fit these networks (another suite, task count, z size or width?): "
            f"missing {missing[:5]}, unexpected {extra[:5]}, shape mismatches {wrong[:5]}"
        )


def load_checkpoint_into(learner, tensors: dict[str, torch.Tensor], what: str) -> None:
    """Restore networks and optimizer moments from `read_checkpoint` tensors (all finite)."""
    nets = {k[5:]: v for k, v in tensors.items() if k.startswith("nets.")}
    check_shapes(learner.nets.state_dict(), nets, what)
    check_finite(tensors, what)
    learner.nets.load_state_dict(nets)
    for name, opt in learner.optimizers.items():
        _load_optimizer(name, opt, tensors)


RUN_ID = re.compile(r"[A-Za-z0-9_.-]{0,64}")
"""What a learner run id may look like (empty: an unnamed run, e.g. a tool's weights)."""


@dataclass
class WeightsMessage:
    """A decoded /policy_weights message."""

    tensors: dict[str, torch.Tensor]
    version: int
    """Monotonic within one learner run (continued across its restarts)."""
    run: str
    """The learner run that made the weights ("" when unnamed)."""
    counts: dict[str, int]
    """Integer counts for pacing, e.g. the learner's updates and env_steps."""


def encode_weights(
    state: dict[str, torch.Tensor], version: int, run: str = "", **counts: int
) -> bytes:
    """Actor weights as safetensors bytes carrying their `version`, the learner `run` that made
    them and integer `counts` (e.g. the learner's updates and env_steps, which pace actors): the
    wire format of /policy_weights. Raises ValueError for non-finite weights: they are never
    published."""
    if not RUN_ID.fullmatch(run):
        raise ValueError(f"run id {run!r} must match {RUN_ID.pattern}")
    check_finite(state, "weights to publish", UNVERIFIED)
    meta = {"version": str(int(version)), "run": run}
    meta |= {k: str(int(v)) for k, v in counts.items()}
    return save(state, metadata=meta)


def read_weights(data: bytes) -> WeightsMessage:
    """Inverse of `encode_weights`. Raises ValueError for anything that is not safetensors with
    a well-formed run id, a version and counts that are non-negative integers. It checks the
    format only: whether the tensors fit, are finite and the version is plausible is the
    receiver's check (agent/weights_acceptance.py)."""
    try:
        data = bytes(data)
        tensors = load(data)
        header_len = int.from_bytes(data[:8], "little")
        meta = dict(json.loads(data[8 : 8 + header_len])["__metadata__"])
        run = str(meta.pop("run", ""))
        version = int(meta.pop("version"))
        counts = {str(k): int(v) for k, v in meta.items()}
    except (SafetensorError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"weights message is not valid safetensors with a version: {err}"
        ) from None
    if not RUN_ID.fullmatch(run):
        raise ValueError(f"weights message run id {run[:80]!r} is malformed")
    for name, value in {"version": version, **counts}.items():
        if value < 0:
            raise ValueError(f"weights message {name} {value} is negative")
    return WeightsMessage(tensors, version, run, counts)


def decode_weights(data: bytes) -> tuple[dict[str, torch.Tensor], int, dict[str, int]]:
    """`read_weights` as (tensors, version, counts), for readers that ignore the run id."""
    msg = read_weights(data)
    return msg.tensors, msg.version, msg.counts


def split_actor_state(tensors: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """Split decoded actor weights into (embedding state, policy state)."""
    emb = {k[len("embedding.") :]: v for k, v in tensors.items() if k.startswith("embedding.")}
    pol = {k[len("policy.") :]: v for k, v in tensors.items() if k.startswith("policy.")}
    return emb, pol
