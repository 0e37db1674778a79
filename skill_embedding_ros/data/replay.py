"""Trajectory replay: whole episodes with what Retrace needs, sampled as segments.

An `Episode` is the unit everything exchanges (actors, the ROS recorder, bag ingestion); the
`ReplayBuffer` keeps them in one flat ring of transitions, evicting the oldest whole episodes
first, and samples segments of T steps plus the H-step history windows of the inference network.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_arrays
from safetensors.numpy import save as save_arrays


@dataclass
class Episode:
    """One episode of L steps (arrays indexed by step)."""

    obs: np.ndarray
    """[L+1, S] observations, including the one after the last action."""
    action: np.ndarray
    """[L, A] actions sent, in [-1, 1]."""
    reward: np.ndarray
    """[L] task reward r_t(s_t, a_t) (not augmented)."""
    terminal: np.ndarray
    """[L] true terminal after the step (not a time limit)."""
    task: int
    """Task id t."""
    z: np.ndarray
    """[L, Z] the skill z held at each step."""
    log_b_z: np.ndarray
    """[L] log b(z|t) of the held z under the embedding that drew it."""
    log_b_a: np.ndarray
    """[L] log b(a|s,z) of the action under the acting policy; NaN when unknown (cuts traces)."""
    z_drawn: np.ndarray
    """[L] True where z was drawn (the episode start, or a resample)."""
    intervention: np.ndarray
    """[L] True where a person or the safety gate replaced the policy's action."""

    def __len__(self) -> int:
        return len(self.action)

    def validate(self) -> None:
        """Raise ValueError describing the first inconsistency (shapes, NaNs, flags)."""
        n = len(self.action)
        if n == 0:
            raise ValueError("episode has no steps")
        expected = {
            "obs": n + 1,
            "reward": n,
            "terminal": n,
            "z": n,
            "log_b_z": n,
            "log_b_a": n,
            "z_drawn": n,
            "intervention": n,
        }
        for name, length in expected.items():
            if len(getattr(self, name)) != length:
                raise ValueError(
                    f"episode field {name!r} has {len(getattr(self, name))} rows, "
                    f"expected {length} for {n} actions"
                )
        for name in ("obs", "action", "reward", "z"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"episode field {name!r} holds non-finite values")
        if not self.z_drawn[0]:
            raise ValueError("episode must draw z at its first step (z_drawn[0] is False)")


def demonstration(obs, action, reward, task: int, z_dim: int) -> Episode:
    """An episode whose actions came from outside the policy (a teleoperator, a scripted
    controller, another team's bag): behaviour log-probabilities unknown (NaN, which cuts the
    Retrace traces), every step an intervention, z zero until a labeller names one."""
    n = len(action)
    z_drawn = np.zeros(n, bool)
    z_drawn[0] = True
    return Episode(
        obs=np.asarray(obs, np.float32),
        action=np.asarray(action, np.float32),
        reward=np.asarray(reward, np.float32),
        terminal=np.zeros(n, bool),  # the suites end on time limits only
        task=task,
        z=np.zeros((n, z_dim), np.float32),
        log_b_z=np.full(n, np.nan, np.float32),
        log_b_a=np.full(n, np.nan, np.float32),
        z_drawn=z_drawn,
        intervention=np.ones(n, bool),
    )


_STEP_FIELDS = (
    "action",
    "reward",
    "terminal",
    "z",
    "log_b_z",
    "log_b_a",
    "z_drawn",
    "intervention",
)


class ReplayBuffer:
    """FIFO store of whole episodes, sampled as fixed-length segments.

    capacity counts transitions. Segments start at a uniformly chosen stored step and run T
    steps; steps past the episode's end are masked out (the Retrace target bootstraps at the last
    valid step). History windows before an episode's start are zero-padded and flagged invalid.
    """

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, z_dim: int):
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.action = np.zeros((capacity, action_dim), np.float32)
        self.reward = np.zeros(capacity, np.float32)
        self.terminal = np.zeros(capacity, bool)
        self.z = np.zeros((capacity, z_dim), np.float32)
        self.log_b_z = np.zeros(capacity, np.float32)
        self.log_b_a = np.zeros(capacity, np.float32)
        self.z_drawn = np.zeros(capacity, bool)
        self.intervention = np.zeros(capacity, bool)
        self.task = np.zeros(capacity, np.int64)
        self.step = np.zeros(capacity, np.int64)
        self.episode_id = np.full(capacity, -1, np.int64)
        self.last = np.zeros(capacity, np.int64)  # ring position of the episode's last step
        self.valid = np.zeros(capacity, bool)
        self._episodes: deque[tuple[int, int, int]] = deque()  # (id, start, length), oldest first
        self._head = 0
        self._next_id = 0
        self._valid_idx: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.valid.sum())

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    def add(self, ep: Episode) -> None:
        """Store a whole episode, evicting the oldest episodes it displaces."""
        ep.validate()
        n = len(ep)
        if n > self.capacity:
            raise ValueError(f"episode of {n} steps exceeds the replay capacity {self.capacity}")
        if ep.obs.shape[1] != self.obs.shape[1] or ep.action.shape[1] != self.action.shape[1]:
            raise ValueError(
                f"episode has obs/action sizes {ep.obs.shape[1]}/"
                f"{ep.action.shape[1]}, replay expects {self.obs.shape[1]}/"
                f"{self.action.shape[1]}"
            )
        start = self._head
        if start + n > self.capacity:
            # Wrap: everything from the head to the end is older than what lies at 0.
            while self._episodes and self._episodes[0][1] >= start:
                self._evict()
            start = 0
        while self._episodes and self._overlaps(start, n):
            self._evict()
        rows = slice(start, start + n)
        self.obs[rows] = ep.obs[:-1]
        self.next_obs[rows] = ep.obs[1:]
        for name in _STEP_FIELDS:
            getattr(self, name)[rows] = getattr(ep, name)
        self.task[rows] = ep.task
        self.step[rows] = np.arange(n)
        self.episode_id[rows] = self._next_id
        self.last[rows] = start + n - 1
        self.valid[rows] = True
        self._episodes.append((self._next_id, start, n))
        self._next_id += 1
        self._head = start + n
        self._valid_idx = None

    def _overlaps(self, start: int, n: int) -> bool:
        _, s, length = self._episodes[0]
        return s < start + n and start < s + length

    def _evict(self) -> None:
        _, s, length = self._episodes.popleft()
        self.valid[s : s + length] = False
        self.episode_id[s : s + length] = -1

    def _valid_positions(self) -> np.ndarray:
        if self._valid_idx is None:
            self._valid_idx = np.flatnonzero(self.valid)
        return self._valid_idx

    def sample(self, batch: int, segment: int, history: int, rng: np.random.Generator):
        """A batch of segments as numpy arrays (see `segment_arrays`)."""
        return self.segment_arrays(self.sample_starts(batch, rng), segment, history)

    def sample_starts(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        """Ring positions of `batch` stored steps drawn uniformly: where segments begin."""
        valid = self._valid_positions()
        if len(valid) == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        return rng.choice(valid, batch)

    def segment_arrays(self, starts: np.ndarray, segment: int, history: int) -> dict:
        """Segments beginning at ring positions `starts` [B]. Returns numpy arrays:

        obs, next_obs [B,T,S]; action, z [B,T,*]; reward, terminal, log_b_z, log_b_a,
        intervention, mask [B,T]; task [B]; obs_window [B,T,H,S]; action_window [B,T,H,A];
        window_valid [B,T,H] (window order: oldest first, the current step last).
        """
        idx = starts[:, None] + np.arange(segment)[None, :]
        in_ring = idx < self.capacity
        idx = np.minimum(idx, self.capacity - 1)
        mask = in_ring & (self.episode_id[idx] == self.episode_id[starts][:, None])
        out = {name: getattr(self, name)[idx] for name in ("obs", "next_obs", *_STEP_FIELDS)}
        out["mask"] = mask.astype(np.float32)
        out["task"] = self.task[starts]
        lag = np.arange(history - 1, -1, -1)  # oldest first
        widx = idx[..., None] - lag
        wvalid = (self.step[idx][..., None] - lag >= 0) & mask[..., None]
        widx = np.where(wvalid, widx, idx[..., None])
        out["obs_window"] = self.obs[widx] * wvalid[..., None]
        out["action_window"] = self.action[widx] * wvalid[..., None]
        out["window_valid"] = wvalid.astype(np.float32)
        return out

    def future_states(self, starts: np.ndarray, segment: int, rng: np.random.Generator):
        """For each segment beginning at ring position `starts` [B], the state after a step
        drawn uniformly from its last step (or its episode's, if that comes first) to its
        episode's end: what the episode went on to reach ([B, S]; hindsight, data/relabel.py)."""
        first = np.minimum(starts + segment - 1, self.last[starts])
        return self.next_obs[rng.integers(first, self.last[starts] + 1)]

    def sample_draws(self, n: int, rng: np.random.Generator):
        """Observations and task ids at steps where z was drawn: ([n, S], [n])."""
        draws = np.flatnonzero(self.valid & self.z_drawn)
        if len(draws) == 0:
            raise RuntimeError("replay holds no step where z was drawn")
        pick = rng.choice(draws, n)
        return self.obs[pick], self.task[pick]

    def episode(self, index: int) -> Episode:
        """The index-th stored episode, oldest first (a copy)."""
        _, s, n = self._episodes[index]
        rows = slice(s, s + n)
        obs = np.concatenate([self.obs[rows], self.next_obs[s + n - 1 : s + n]])
        fields = {name: getattr(self, name)[rows].copy() for name in _STEP_FIELDS}
        return Episode(obs=obs, task=int(self.task[s]), **fields)


def episode_to_arrays(episode: Episode) -> dict[str, np.ndarray]:
    """An episode as a flat dict of arrays (task as a 0-d int64), e.g. for safetensors."""
    out = {
        f.name: np.ascontiguousarray(getattr(episode, f.name)) for f in dataclasses.fields(Episode)
    }
    out["task"] = np.asarray(episode.task, dtype=np.int64)
    return out


def episode_from_arrays(arrays: dict[str, np.ndarray]) -> Episode:
    """Inverse of `episode_to_arrays`; validates the result."""
    names = {f.name for f in dataclasses.fields(Episode)}
    if set(arrays) != names:
        raise ValueError(f"episode arrays have keys {sorted(arrays)}, expected {sorted(names)}")
    fields = {k: np.asarray(v) for k, v in arrays.items()}
    fields["task"] = int(fields["task"])
    episode = Episode(**fields)
    episode.validate()
    return episode


def episode_to_bytes(episode: Episode) -> bytes:
    """An episode as safetensors bytes (how actor processes hand episodes to the learner)."""
    return save_arrays(episode_to_arrays(episode))


def episode_from_bytes(data: bytes) -> Episode:
    """Inverse of `episode_to_bytes`, with a clear error for anything else."""
    try:
        arrays = load_arrays(bytes(data))
    except SafetensorError as err:
        raise ValueError(f"not an encoded episode: {err}") from None
    return episode_from_arrays(arrays)
