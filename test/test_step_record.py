"""The step record's CDR codec: the direct path (a layout's bytes cut from one rosbags
serialization, the values appended or read in place) agrees with rosbags byte for byte, and
anything it does not recognise goes through rosbags and its checks."""

from __future__ import annotations

import numpy as np
import pytest

from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.assembly import episode_cdr, episode_records
from skill_embedding_ros.testing.episodes import random_episode


def _record(rng, obs_dim=4, action_dim=2, z_dim=3, step=7) -> sr.StepRecord:
    return sr.StepRecord(
        stamp_ns=int(rng.integers(0, 2**62)),
        episode=int(rng.integers(0, 10**6)),
        step=step,
        task=2,
        obs=rng.normal(size=obs_dim).astype(np.float32),
        action=rng.uniform(-1, 1, action_dim).astype(np.float32),
        reward=float(rng.normal()),
        z=rng.normal(size=z_dim).astype(np.float32),
        log_b_z=float("nan"),
        log_b_a=float(rng.normal()),
        flags=sr.Z_DRAWN | sr.INTERVENTION,
    )


def _fields(record: sr.StepRecord) -> list:
    return [
        record.stamp_ns, record.episode, record.step, record.task, record.obs.tolist(),
        record.action.tolist(), record.reward, record.z.tolist(), record.log_b_a, record.flags,
    ]  # fmt: skip


@pytest.mark.parametrize("dims", [(4, 2, 3), (34, 9, 3), (1, 1, 1)])
def test_the_direct_encoding_is_rosbags_serialization(dims):
    rng = np.random.default_rng(sum(dims))
    for _ in range(20):
        record = _record(rng, *dims)
        layout, data = sr.encode(record)
        assert sr.encode_cdr(record) == sr._serialize(tuple(layout), data)


def test_a_prepared_encoder_builds_nothing_at_its_first_record():
    """sr.prepare_encoder, which the skill policy calls as it is built: its first record then
    costs a record's encoding, not rosbags' definitions (56 ms inside a real-time control step)."""
    sr._cdr_prefix.cache_clear()
    sr.prepare_encoder(5, 2, 3)
    built = sr._cdr_prefix.cache_info().misses
    sr.encode_cdr(_record(np.random.default_rng(0), obs_dim=5))
    assert sr._cdr_prefix.cache_info().misses == built == 1


@pytest.mark.parametrize("demonstration", [False, True])
@pytest.mark.parametrize("uid", range(6))
def test_an_episodes_records_encode_at_once_as_one_by_one(uid, demonstration):
    episode = random_episode(uid)  # NaN log b, interventions, terminals, resampled z
    stamps = np.arange(len(episode) + 1) * 123_456_789 + uid * 10**12 + 7
    records = episode_records(episode, "/a", 40 + uid, stamps, demonstration)
    want = [sr.encode_cdr(r) for r in records]
    assert episode_cdr(episode, 40 + uid, stamps, demonstration) == want


def test_both_decoding_paths_agree_with_what_was_encoded():
    rng = np.random.default_rng(0)
    record = _record(rng, 5, 2, 2)
    raw = sr.encode_cdr(record)
    sr._KNOWN.clear()  # a reader in a fresh process: rosbags decodes the first one
    slow = sr.decode_cdr(raw, "/a")
    assert sr._KNOWN, "the layout was not remembered"
    fast = sr.decode_cdr(memoryview(raw), "/a")  # the recorder hands memoryviews over
    assert _fields(slow) == _fields(fast) == _fields(record) and fast.source == "/a"
    assert np.isnan(fast.log_b_z) and fast.obs.dtype == np.float32


def test_what_the_direct_path_does_not_recognise_is_checked_by_rosbags():
    rng = np.random.default_rng(1)
    raw = sr.encode_cdr(_record(rng))
    with pytest.raises(ValueError, match="not a Float64MultiArray"):
        sr.decode_cdr(raw[:-3])  # truncated: not the known length
    big_endian = sr.typestore().serialize_cdr(
        sr.typestore().deserialize_cdr(raw, sr.MSGTYPE), sr.MSGTYPE, little_endian=False
    )
    assert _fields(sr.decode_cdr(big_endian)) == _fields(sr.decode_cdr(raw))
    # Known layout and length, but a bad value: decode's own checks still run.
    bad = bytearray(raw)
    bad[-8:] = np.float64(np.inf).tobytes()  # flags must be finite
    with pytest.raises(ValueError, match="field 'flags' is malformed"):
        sr.decode_cdr(bytes(bad))
