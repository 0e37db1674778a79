"""Which /policy_weights a skill policy adopts (agent/weights_acceptance.py), ROS-free: hostile
weights are refused and never lock the policy out of its learner's later weights."""

import pytest
import torch
from safetensors.torch import save

from skill_embedding_ros.agent.checkpoint import encode_weights, read_weights
from skill_embedding_ros.agent.weights_acceptance import (
    MAX_VERSION,
    REANCHOR_AFTER,
    WeightsInbox,
)
from skill_embedding_ros.testing.episodes import make_networks

RUN = "a1b2c3d4e5f6"


@pytest.fixture
def actor_state():
    return make_networks().actor_state()


def learner_weights(state, version, run=RUN, updates=None, env_steps=0):
    """What the real learner sends: its state, scaled by the version so tests tell them apart."""
    tensors = {k: v + version for k, v in state.items()}
    updates = version if updates is None else updates
    return encode_weights(tensors, version, run=run, updates=updates, env_steps=env_steps)


def hostile(tensors, version="1000000000000", run="evil", **meta):
    """Raw safetensors with any metadata: what a hostile publisher can put on the topic."""
    return save(tensors, metadata={"version": str(version), "run": run, **meta})


def assert_adopts_the_learner(inbox, state, version):
    verdict = inbox.offer(learner_weights(state, version))
    assert verdict.adopt, verdict
    adopted = inbox.take()
    assert adopted.version == version and adopted.run == RUN
    for k, v in adopted.tensors.items():
        assert torch.equal(v, state[k] + version), k
    assert inbox.counts == {"updates": version, "env_steps": 0}


def test_hostile_weights_are_refused_and_the_learner_is_still_followed(actor_state):
    inbox = WeightsInbox(actor_state)
    assert_adopts_the_learner(inbox, actor_state, 3)
    name = next(iter(actor_state))
    nan = {**actor_state, name: torch.full_like(actor_state[name], float("nan"))}
    huge = {**actor_state, name: torch.full_like(actor_state[name], 1e30)}
    wrong_shape = {**actor_state, name: torch.zeros(7, 7)}
    attacks = {
        "version 1e12, new run": hostile(actor_state),
        "version 1e12, the learner's run": hostile(actor_state, run=RUN),
        "version just past the bound": hostile(actor_state, MAX_VERSION + 1, RUN),
        "NaN weights": hostile(nan, 4, RUN),
        "1e30 weights": hostile(huge, 4, RUN),
        "inf weights, new run": hostile({**actor_state, name: actor_state[name] / 0.0}, 1),
        "wrong shape": hostile(wrong_shape, 4, RUN),
        "missing tensor": hostile(dict(list(actor_state.items())[1:]), 4, RUN),
        "float64": hostile({k: v.double() for k, v in actor_state.items()}, 4, RUN),
        "negative version": hostile(actor_state, -1, RUN),
        "version not an integer": hostile(actor_state, "1e12", RUN),
        "absurd count": hostile(actor_state, 4, RUN, env_steps=str(10**18)),
        "run id with a newline": hostile(actor_state, 4, "x\nERROR fake log line"),
        "not safetensors": b"\x00" * 64,
    }
    for what, data in attacks.items():
        before = inbox.followed
        verdict = inbox.offer(data)
        assert verdict.action == "refuse", (what, verdict)
        assert verdict.reason, what
        assert inbox.followed == before and inbox.take() is None, what
        assert inbox.counts == {"updates": 3, "env_steps": 0}, what  # pacing untouched
    assert_adopts_the_learner(inbox, actor_state, 4)


def test_a_plausible_but_false_version_cannot_lock_the_learner_out(actor_state):
    # A version within the bound on the learner's own run id is adopted (nothing tells it from
    # the learner's), but the learner's next messages re-anchor the policy.
    inbox = WeightsInbox(actor_state)
    assert_adopts_the_learner(inbox, actor_state, 10)
    assert inbox.offer(hostile(actor_state, 99_999_999, RUN)).adopt
    inbox.take()
    for k in range(REANCHOR_AFTER - 1):
        verdict = inbox.offer(learner_weights(actor_state, 11 + k))
        assert verdict.action == "stale" and not verdict.counts_usable, verdict
    assert inbox.offer(learner_weights(actor_state, 13)).action == "reanchor"
    adopted = inbox.take()
    assert adopted.version == 13
    assert all(torch.equal(v, actor_state[k] + 13) for k, v in adopted.tensors.items())
    assert_adopts_the_learner(inbox, actor_state, 14)


def test_versions_order_within_a_run_and_a_new_run_is_a_switch(actor_state):
    inbox = WeightsInbox(actor_state)
    assert inbox.offer(learner_weights(actor_state, 5)).action == "adopt"  # first: any version
    inbox.take()
    rebroadcast = inbox.offer(learner_weights(actor_state, 5, env_steps=900))
    assert rebroadcast.action == "duplicate" and not rebroadcast.adopt
    assert inbox.counts["env_steps"] == 900  # a rebroadcast still paces
    assert inbox.take() is None
    assert inbox.offer(learner_weights(actor_state, 4)).action == "stale"
    assert inbox.offer(learner_weights(actor_state, 5)).action == "duplicate"  # resets staleness
    switch = inbox.offer(learner_weights(actor_state, 1, run="new0run"))
    assert switch.action == "switch" and "new0run" in switch.reason
    assert inbox.take().run == "new0run"


def test_the_learner_never_encodes_non_finite_weights(actor_state):
    name = next(iter(actor_state))
    bad = {**actor_state, name: torch.full_like(actor_state[name], float("nan"))}
    with pytest.raises(ValueError, match="non-finite"):
        encode_weights(bad, 1, run=RUN)
    msg = read_weights(encode_weights(actor_state, 2, run=RUN, updates=7))
    assert (msg.version, msg.run, msg.counts) == (2, RUN, {"updates": 7})


def test_a_keyed_policy_adopts_only_weights_signed_with_its_key(actor_state, tmp_path):
    """Where DDS security cannot be enforced, the weights' HMAC is what keeps a process on the
    domain from feeding the policies: unsigned, wrongly signed or altered weights are refused,
    and the learner's signed ones are adopted."""
    from skill_embedding_ros.agent.weights_signature import read_key, sign

    key_file = tmp_path / "weights.key"
    key_file.write_bytes(bytes(range(32)))
    (tmp_path / "short.key").write_bytes(b"too short")
    with pytest.raises(ValueError, match="fewer than 16"):
        read_key(tmp_path / "short.key")
    with pytest.raises(ValueError, match="No such file"):
        WeightsInbox(actor_state, str(tmp_path / "missing.key"))
    inbox = WeightsInbox(actor_state, str(key_file))
    key = read_key(key_file)
    data = learner_weights(actor_state, 1)
    assert "unsigned" in inbox.offer(data).reason
    assert "bad signature" in inbox.offer(data, sign(data, bytes(32))).reason
    assert "bad signature" in inbox.offer(learner_weights(actor_state, 2), sign(data, key)).reason
    assert inbox.take() is None  # nothing refused is held for loading
    assert inbox.offer(data, sign(data, key)).adopt
