"""Replay: segments and history windows respect episode boundaries; FIFO by whole episodes."""

import numpy as np
import pytest

from skill_embedding_ros.data.replay import ReplayBuffer, episode_from_bytes, episode_to_bytes
from skill_embedding_ros.testing.episodes import make_episode


def _buffer(capacity=100):
    return ReplayBuffer(capacity, obs_dim=3, action_dim=2, z_dim=2)


def test_segment_masks_steps_past_the_episode_end():
    buf = _buffer()
    buf.add(make_episode(5, offset=0))
    buf.add(make_episode(5, offset=100))
    seg = buf.segment_arrays(np.array([3]), segment=4, history=2)
    np.testing.assert_array_equal(seg["mask"][0], [1, 1, 0, 0])
    np.testing.assert_array_equal(seg["obs"][0, :2, 0], [3, 4])
    np.testing.assert_array_equal(seg["next_obs"][0, :2, 0], [4, 5])  # incl. the final obs


def test_history_window_is_padded_at_episode_start():
    buf = _buffer()
    buf.add(make_episode(5, offset=100))
    buf.add(make_episode(5, offset=0))  # stored at positions 5..9
    seg = buf.segment_arrays(np.array([5]), segment=3, history=3)
    # Step 0 of the second episode: two padded slots, then the step itself.
    np.testing.assert_array_equal(seg["window_valid"][0, 0], [0, 0, 1])
    np.testing.assert_array_equal(seg["obs_window"][0, 0, :, 0], [0, 0, 0])
    np.testing.assert_array_equal(seg["window_valid"][0, 2], [1, 1, 1])
    np.testing.assert_array_equal(seg["obs_window"][0, 2, :, 0], [0, 1, 2])
    # No state of the previous episode (offset 100) leaks into a window.
    assert seg["obs_window"].max() < 100


def test_fifo_evicts_whole_oldest_episodes():
    buf = _buffer(capacity=12)
    for k in range(4):
        buf.add(make_episode(5, task=k % 2, offset=10 * k))
    assert buf.num_episodes == 2 and len(buf) == 10
    kept = [buf.episode(i).obs[0, 0] for i in range(buf.num_episodes)]
    assert kept == [20, 30]


def test_samples_only_valid_steps_and_draw_states():
    buf = _buffer(capacity=12)
    for k in range(5):
        buf.add(make_episode(5, offset=10 * k))
    rng = np.random.default_rng(0)
    seg = buf.sample(64, segment=3, history=2, rng=rng)
    assert (seg["obs"][:, 0, 0] >= 30).all()  # only the two newest episodes remain
    obs, _ = buf.sample_draws(32, rng)
    assert set(obs[:, 0].tolist()) <= {30.0, 40.0}


def test_episode_round_trips_through_buffer_and_bytes():
    ep = make_episode(7, task=1)
    buf = _buffer()
    buf.add(ep)
    for got in (buf.episode(0), episode_from_bytes(episode_to_bytes(ep))):
        for name in ("obs", "action", "reward", "z", "log_b_a", "z_drawn"):
            np.testing.assert_array_equal(getattr(got, name), getattr(ep, name))
        assert got.task == 1


def test_bad_episodes_are_rejected_with_a_reason():
    buf = _buffer()
    ep = make_episode(5)
    ep.obs[2, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        buf.add(ep)
    with pytest.raises(ValueError, match="obs/action sizes"):
        ReplayBuffer(10, obs_dim=4, action_dim=2, z_dim=2).add(make_episode(5))
    with pytest.raises(ValueError, match="not an encoded episode"):
        episode_from_bytes(b"\x00garbage")
    assert len(buf) == 0
