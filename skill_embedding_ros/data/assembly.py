"""Per-step records -> whole episodes. The live replay recorder and bag ingestion both use this,
so a bag rebuilds exactly the episodes the recorder stored.

Records of one actor arrive in order; records of several actors interleave. An episode is
emitted when its closing (LAST) record arrives with every step before it; anything else (a gap,
a restart of the episode, a record that does not fit) drops that episode and is counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.replay import Episode


@dataclass
class _Partial:
    records: list[sr.StepRecord] = field(default_factory=list)


class EpisodeAssembler:
    """Feed records with `add`; it returns the episode a record completes, else None."""

    def __init__(self):
        self._open: dict[tuple[str, int], _Partial] = {}
        self.counts: Counter[str] = Counter()
        """records, episodes, and why records or episodes were dropped."""

    @property
    def in_flight(self) -> int:
        """Episodes begun and not yet closed."""
        return len(self._open)

    def is_open(self, source: str, episode: int) -> bool:
        """Whether that episode has begun and is still waiting for records."""
        return (source, episode) in self._open

    def add(self, record: sr.StepRecord) -> Episode | None:
        self.counts["records"] += 1
        key = (record.source, record.episode)
        if record.step == 0 and not record.last:
            if key in self._open:
                self.counts["episodes_restarted"] += 1
            self._open[key] = _Partial([record])
            return None
        partial = self._open.get(key)
        if partial is None:
            self.counts["records_without_start"] += 1
            return None
        if record.step != len(partial.records):
            # A lost record: the episode cannot be rebuilt exactly, so it is not stored at all.
            del self._open[key]
            self.counts["episodes_with_gaps"] += 1
            return None
        if not record.last:
            partial.records.append(record)
            return None
        del self._open[key]
        try:
            episode = build_episode(partial.records, record)
        except ValueError:
            self.counts["episodes_invalid"] += 1
            return None
        self.counts["episodes"] += 1
        return episode

    def drop_in_flight(self) -> int:
        """Forget unfinished episodes (end of a bag, a restart); returns how many."""
        n = len(self._open)
        self.counts["episodes_unfinished"] += n
        self._open.clear()
        return n


def build_episode(steps: list[sr.StepRecord], closing: sr.StepRecord) -> Episode:
    """An `Episode` from its step records and its closing record (validated)."""
    if not steps:
        raise ValueError("episode has no steps")
    episode = Episode(
        obs=np.stack([r.obs for r in steps] + [closing.obs]).astype(np.float32),
        action=np.stack([r.action for r in steps]).astype(np.float32),
        reward=np.asarray([r.reward for r in steps], np.float32),
        terminal=np.asarray([bool(r.flags & sr.TERMINAL) for r in steps]),
        task=steps[0].task,
        z=np.stack([r.z for r in steps]).astype(np.float32),
        log_b_z=np.asarray([r.log_b_z for r in steps], np.float32),
        log_b_a=np.asarray([r.log_b_a for r in steps], np.float32),
        z_drawn=np.asarray([bool(r.flags & sr.Z_DRAWN) for r in steps]),
        intervention=np.asarray([bool(r.flags & sr.INTERVENTION) for r in steps]),
    )
    episode.validate()
    return episode


def episode_records(
    episode: Episode, source: str, episode_id: int, stamps_ns, demonstration: bool = False
) -> list:
    """The records a policy node would publish for `episode` (stamps_ns: L+1 stamps).

    A step without a behaviour log-probability is flagged EVALUATION (a policy's mean action),
    or DEMONSTRATION when `demonstration` says its actions came from outside the policy.
    """
    n = len(episode)
    # Per-step values as Python numbers in one pass each: cheaper than numpy scalars per step.
    flags = _flags(episode, demonstration).tolist()
    stamps = [int(s) for s in stamps_ns]
    reward, log_b_z, log_b_a = (
        np.asarray(values).tolist()
        for values in (episode.reward, episode.log_b_z, episode.log_b_a)
    )
    out = [
        sr.StepRecord(
            stamp_ns=stamps[k],
            episode=episode_id,
            step=k,
            task=episode.task,
            obs=episode.obs[k],
            action=episode.action[k],
            reward=reward[k],
            z=episode.z[k],
            log_b_z=log_b_z[k],
            log_b_a=log_b_a[k],
            flags=flags[k],
            source=source,
        )
        for k in range(n)
    ]
    closing = _closing(episode, episode_id, stamps[n])
    closing.source = source
    out.append(closing)
    return out


def episode_cdr(episode: Episode, episode_id: int, stamps_ns, demonstration: bool = False):
    """`encode_cdr` of each of `episode_records(episode, ...)`, byte for byte, the steps laid
    out from the episode's arrays at once: bag ingestion encodes every step it aligns."""
    n = len(episode)
    stamps = np.asarray(stamps_ns, np.int64)
    steps = sr.encode_cdr_columns(
        {
            "stamp": stamps[:n],
            "episode": episode_id,
            "step": np.arange(n),
            "task": episode.task,
            "obs": episode.obs[:n],
            "action": episode.action,
            "reward": episode.reward,
            "z": episode.z,
            "log_b_z": episode.log_b_z,
            "log_b_a": episode.log_b_a,
            "flags": _flags(episode, demonstration),
        }
    )
    return [*steps, sr.encode_cdr(_closing(episode, episode_id, int(stamps[n])))]


def _closing(episode: Episode, episode_id: int, stamp_ns: int) -> sr.StepRecord:
    """The episode's closing record (s_L), stamped `stamp_ns`."""
    n, action_dim, z_dim = len(episode), episode.action.shape[1], episode.z.shape[1]
    return sr.closing_record(
        stamp_ns, episode_id, n, episode.task, episode.obs[n], action_dim, z_dim
    )


def _flags(episode: Episode, demonstration: bool) -> np.ndarray:
    """Each step's flags. A step without a behaviour log-probability is a policy's mean action
    (EVALUATION), or a DEMONSTRATION when its actions came from outside the policy."""
    unknown_behaviour = sr.DEMONSTRATION if demonstration else sr.EVALUATION
    return (
        np.where(episode.z_drawn, sr.Z_DRAWN, 0)
        | np.where(episode.terminal, sr.TERMINAL, 0)
        | np.where(episode.intervention, sr.INTERVENTION, 0)
        | np.where(np.isnan(episode.log_b_a), unknown_behaviour, 0)
    )
