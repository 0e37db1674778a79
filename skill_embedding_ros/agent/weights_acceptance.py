"""Which /policy_weights messages a skill policy adopts: a pure rule, ROS-free.

Anyone on the ROS domain can publish on /policy_weights, and without DDS security (not in the
pip wheels) nothing proves a message came from the learner. The rule below therefore cannot stop
a publisher that imitates the learner exactly; what it guarantees is that malformed, non-finite,
mis-shaped or absurdly versioned weights are never loaded, and that no single message can lock a
policy out of its learner's later weights.

A message is refused outright unless (`message_problem`):
* it is safetensors with a well-formed run id and non-negative integer version and counts
  (agent/checkpoint.py `read_weights`);
* its version is at most MAX_VERSION and its counts at most MAX_COUNT (a learner publishing 100
  new weights a second would need four months to reach 1e9 versions);
* its tensors have exactly the names, shapes and dtypes of the policy's networks, and every value
  is finite and within +-VALUE_BOUND (data/validation.py `tensors_problem`).

Ordering (`order`), for a valid message of learner run `run` with `version`:
* the policy follows no run yet (initial or checkpoint weights): adopt it;
* another run id: adopt it and log the switch once (a new learner run; run ids are persisted in
  the learner's run directory, so a restarted learner keeps its id);
* the followed run, a higher version: adopt it (a learner's versions only grow, across its
  restarts too);
* the followed run, the same version: a rebroadcast; its counts still pace the policy;
* the followed run, a lower version: stale, refused. A healthy learner never sends one, so
  REANCHOR_AFTER such messages in a row (the learner rebroadcasts every 2 s) mean the followed
  version is not the learner's (a message that claimed too high a version, or a learner whose
  run directory lost its version): the policy then adopts the newest and logs the re-anchor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch

from skill_embedding_ros.agent.checkpoint import WeightsMessage, read_weights
from skill_embedding_ros.agent.weights_signature import read_key, signature_problem
from skill_embedding_ros.data.validation import VALUE_BOUND, tensors_problem

MAX_VERSION = 10**9
"""Largest weights version a policy accepts."""
MAX_COUNT = 10**15
"""Largest pacing count (updates, env_steps) a policy accepts."""
REANCHOR_AFTER = 3
"""Consecutive lower versions of the followed run after which the policy adopts the newest."""


@dataclass(frozen=True)
class Followed:
    """What a policy follows: the learner run and version of the weights it adopted last."""

    run: str | None = None
    """None: no learner weights adopted yet."""
    version: int = -1
    stale: int = 0
    """Consecutive messages of `run` with a lower version since the last one accepted."""


@dataclass(frozen=True)
class Verdict:
    """The decision on one message."""

    action: str
    """adopt | switch | reanchor (load the weights), duplicate (counts only), stale, refuse."""
    state: Followed
    """What the policy follows afterwards."""
    reason: str = ""
    """For refuse, stale, switch and reanchor: one line saying why."""

    @property
    def adopt(self) -> bool:
        """Whether to load the message's weights (at the next episode start)."""
        return self.action in ("adopt", "switch", "reanchor")

    @property
    def counts_usable(self) -> bool:
        """Whether the message's counts may pace the policy."""
        return self.adopt or self.action == "duplicate"


def expected_weights(state: Mapping[str, torch.Tensor]) -> dict[str, tuple[tuple, torch.dtype]]:
    """name -> (shape, dtype) of an actor state (Networks.actor_state): what messages must fit."""
    return {k: (tuple(v.shape), v.dtype) for k, v in state.items()}


def message_problem(msg: WeightsMessage, expected: Mapping) -> str | None:
    """Why a decoded message must not be loaded (one line), or None."""
    if msg.version > MAX_VERSION:
        return f"version {msg.version} is beyond any learner's (at most {MAX_VERSION:.0e})"
    for name, value in msg.counts.items():
        if value > MAX_COUNT:
            return f"count {name} = {value} is beyond {MAX_COUNT:.0e}"
    return tensors_problem(expected, msg.tensors, VALUE_BOUND)


def order(state: Followed, run: str, version: int) -> Verdict:
    """The ordering rule of the module docstring for a valid message."""
    if state.run is None:
        return Verdict("adopt", Followed(run, version))
    if run != state.run:
        reason = f"learner run {run!r} (v{version}) replaces {state.run!r} (v{state.version})"
        return Verdict("switch", Followed(run, version), reason)
    if version > state.version:
        return Verdict("adopt", Followed(run, version))
    if version == state.version:
        return Verdict("duplicate", replace(state, stale=0))
    stale = state.stale + 1
    if stale >= REANCHOR_AFTER:
        reason = (
            f"{stale} messages of run {run!r} in a row are older than the adopted "
            f"v{state.version}; following the learner's v{version} again"
        )
        return Verdict("reanchor", Followed(run, version), reason)
    reason = f"v{version} of run {run!r} is older than the adopted v{state.version}"
    return Verdict("stale", replace(state, stale=stale), reason)


def judge(
    data: bytes, expected: Mapping, state: Followed
) -> tuple[Verdict, WeightsMessage | None]:
    """The whole acceptance decision for one /policy_weights payload: (verdict, message).

    The message is None when it could not be decoded. A refused message leaves `state` as it
    was, so it cannot influence what is adopted later.
    """
    try:
        msg = read_weights(data)
    except ValueError as err:
        return Verdict("refuse", state, str(err)), None
    problem = message_problem(msg, expected)
    if problem is not None:
        return Verdict(
            "refuse", state, f"weights v{msg.version} of run {msg.run!r}: {problem}"
        ), msg
    return order(state, msg.run, msg.version), msg


class WeightsInbox:
    """A policy's side of /policy_weights: judges each message, holds the weights to load at
    the next episode start and the newest counts that may pace the policy."""

    def __init__(self, actor_state: Mapping[str, torch.Tensor], key_file: str = ""):
        """`key_file`: adopt only weights signed with the key in it (agent/weights_signature.py;
        ValueError if it cannot be read)."""
        self.expected = expected_weights(actor_state)
        self.key = read_key(key_file) if key_file else None
        self.followed = Followed()
        self.pending: WeightsMessage | None = None
        self.counts: dict[str, int] | None = None
        """The learner's counts ("updates", "env_steps") from the newest usable message."""

    def offer(self, data: bytes, signature: str = "") -> Verdict:
        """Judge one payload (and its signature label, when the inbox has a key); adopted
        weights wait in `pending`, usable counts in `counts`."""
        if self.key is not None:
            problem = signature_problem(data, signature, self.key)
            if problem is not None:
                return Verdict("refuse", self.followed, problem)
        verdict, msg = judge(data, self.expected, self.followed)
        self.followed = verdict.state
        if verdict.adopt:
            self.pending = msg
        if verdict.counts_usable:
            self.counts = {"updates": msg.version, **msg.counts}
        return verdict

    def take(self) -> WeightsMessage | None:
        """The adopted weights not loaded yet (then none)."""
        msg, self.pending = self.pending, None
        return msg
