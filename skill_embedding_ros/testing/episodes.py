"""Small factories shared by the tests (tiny networks, synthetic episodes)."""

import numpy as np

from skill_embedding_ros.agent.learner import Networks
from skill_embedding_ros.data.replay import Episode, ReplayBuffer
from skill_embedding_ros.settings.run import AgentConfig


def make_episode(
    length: int,
    task: int = 0,
    obs_dim: int = 3,
    action_dim: int = 2,
    z_dim: int = 2,
    offset: float = 0.0,
) -> Episode:
    """An episode whose observation at step i is [offset + i, ...] so tests can read indices."""
    obs = offset + np.arange(length + 1, dtype=np.float32)[:, None].repeat(obs_dim, 1)
    return Episode(
        obs=obs,
        action=np.full((length, action_dim), 0.1, np.float32) * (np.arange(length)[:, None] % 3),
        reward=np.arange(length, dtype=np.float32),
        terminal=np.zeros(length, bool),
        task=task,
        z=np.ones((length, z_dim), np.float32),
        log_b_z=np.full(length, -1.0, np.float32),
        log_b_a=np.full(length, -0.5, np.float32),
        z_drawn=np.eye(1, length, dtype=bool)[0],
        intervention=np.zeros(length, bool),
    )


def replay_batch(seed: int = 0, segments: int = 16, demonstrated_every: int = 0):
    """A learner's update input from six `make_episode`s (two tasks): `segments` segments of 4
    steps with 3 of history, and as many z-draw states; every `demonstrated_every`-th step an
    intervention (0: none)."""
    buf = ReplayBuffer(200, obs_dim=3, action_dim=2, z_dim=2)
    for k in range(6):
        episode = make_episode(8, task=k % 2, offset=0.1 * k)
        if demonstrated_every:
            episode.intervention[::demonstrated_every] = True
        buf.add(episode)
    rng = np.random.default_rng(seed)
    return buf.sample(segments, segment=4, history=3, rng=rng), buf.sample_draws(segments, rng)


def make_networks(
    family: str = "bernoulli",
    num_tasks: int = 2,
    obs_dim: int = 3,
    action_dim: int = 2,
    **overrides,
) -> Networks:
    """8-unit networks: fast, and enough to check shapes and gradients."""
    cfg = AgentConfig(
        embedding=family, z_dim=2, hidden=(8,), critic_hidden=(8,), history=3, **overrides
    )
    return Networks(obs_dim, action_dim, num_tasks, cfg)


EPISODE_FIELDS = ("obs", "action", "reward", "terminal", "z", "log_b_z", "log_b_a", "z_drawn")
EPISODE_FIELDS += ("intervention",)


def random_episode(uid: int, length: int | None = None) -> Episode:
    """A random but reproducible episode; obs[0, 0] = uid identifies it in the store."""
    rng = np.random.default_rng(uid)
    n = length or int(rng.integers(3, 12))
    obs = rng.normal(size=(n + 1, 4)).astype(np.float32)
    obs[0, 0] = uid
    z_drawn = rng.random(n) < 0.2
    z_drawn[0] = True
    log_b_a = rng.normal(size=n).astype(np.float32)
    log_b_a[rng.random(n) < 0.2] = np.nan  # evaluation steps
    return Episode(
        obs=obs,
        action=rng.uniform(-1, 1, (n, 2)).astype(np.float32),
        reward=rng.normal(size=n).astype(np.float32),
        terminal=np.arange(n) == n - 1 if uid % 2 else np.zeros(n, bool),
        task=int(uid % 3),
        z=rng.normal(size=(n, 3)).astype(np.float32),
        log_b_z=rng.normal(size=n).astype(np.float32),
        log_b_a=log_b_a,
        z_drawn=z_drawn,
        intervention=rng.random(n) < 0.1,
    )


def episode_uid(episode: Episode) -> int:
    """The uid a `random_episode` carries in obs[0, 0]."""
    return int(episode.obs[0, 0])


def assert_same_episode(got: Episode, want: Episode) -> None:
    assert got.task == want.task
    for name in EPISODE_FIELDS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name


def assert_all_expected(episodes: list[Episode]) -> None:
    """Each episode is the `random_episode` of its uid, and none is there twice."""
    uids = [episode_uid(e) for e in episodes]
    assert len(set(uids)) == len(uids), "an episode is stored twice"
    for episode in episodes:
        assert_same_episode(episode, random_episode(episode_uid(episode)))
