"""Reading the replay store: records -> complete episodes (`EpisodeCollector`, `read_bag`) and
the learner's view of a store (`StoreReader`). What counts as a chunk is decided by
data/store_chunks.py `inspect_chunk`, the same check the writer applies."""

from __future__ import annotations

from pathlib import Path

from rosbags.rosbag2 import Reader

from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.assembly import EpisodeAssembler
from skill_embedding_ros.data.replay import Episode
from skill_embedding_ros.data.store_chunks import (
    ChunkError,
    RawRecord,
    chunk_entries,
    inspect_chunk,
    is_record_topic,
    source_of,
)


def read_bag(path: Path | str) -> list[Episode]:
    """The complete episodes in a rosbag2 bag of record topics (a chunk, or a recorded graph),
    in the order they completed; ValueError if a record is malformed."""
    with Reader(path) as bag:
        conns = [c for c in bag.connections if is_record_topic(c.topic, c.msgtype)]
        records = [(t, c.topic, bytes(raw)) for c, t, raw in bag.messages(connections=conns)]
    records.sort(key=lambda r: r[0])  # arrival order; the assembler needs each actor's in order
    assembler = EpisodeAssembler()
    episodes = []
    for _, topic, raw in records:
        episode = assembler.add(sr.decode_cdr(raw, source_of(topic)))
        if episode is not None:
            episodes.append(episode)
    return episodes


class StoreReader:
    """The learner's view of a store: the episodes of chunks it has not read yet.

    Chunks land in increasing number, so a high-water mark is all it remembers: an episode is
    never returned twice, and chunks deleted underneath it are simply gone. The mark passes
    every entry named like a chunk, readable or not (the writer numbers past them all).
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.last_chunk = -1
        """Highest chunk number read (or skipped) so far."""
        self.unreadable: list[str] = []
        """Entries named like chunks that were skipped, as `name: why` (for the caller to log)."""

    def new_episodes(self, max_transitions: int | None = None) -> list[Episode]:
        """Episodes of the chunks that landed since the last call (every chunk on the first),
        oldest first. With max_transitions, at most that many transitions: the newest chunks
        are read first and older unread ones are skipped for good (on resuming with a store
        larger than the replay, those are the ones it would evict anyway)."""
        entries = [(n, name) for n, name in chunk_entries(self.path) if n > self.last_chunk]
        budget = max_transitions
        batches = []  # newest chunk first
        for _, name in reversed(entries):
            if budget is not None and budget <= 0:
                break
            episodes = self._read(name)
            if budget is not None:
                kept = []
                for episode in reversed(episodes):
                    if len(episode) > budget:
                        budget = 0
                        break
                    budget -= len(episode)
                    kept.append(episode)
                episodes = kept[::-1]
            batches.append(episodes)
        if entries:
            self.last_chunk = entries[-1][0]
        return [episode for batch in reversed(batches) for episode in batch]

    def _read(self, name: str) -> list[Episode]:
        return read_chunk(self.path, name, self.unreadable)


def read_chunk(store: Path, name: str, unreadable: list[str]) -> list[Episode]:
    """The episodes of store entry `name`; [] (and why, appended to `unreadable`) for one that
    is not a readable chunk. Every reader of the store goes by this one rule."""
    chunk = store / name
    try:
        inspect_chunk(chunk)
        return read_bag(chunk)
    except FileNotFoundError:  # deleted by the size bound since the listing
        return []
    except ChunkError as err:
        unreadable.append(f"{name}: {err}")
    except Exception as err:  # a damaged bag inside a whole chunk must not stop the learner
        if chunk.exists():
            unreadable.append(f"{name}: its bag does not read ({err})")
    return []


class EpisodeCollector:
    """Decoded records with their raw bytes -> complete episodes with exactly their records.

    The live recorder (`StoreWriter.add`) and bag ingestion both collect through this one rule
    (the assembler's: a step-0 record (re)starts an episode, its closing record ends it), so a
    bag of record topics yields the episodes the recorder would have stored, byte for byte.
    """

    def __init__(self):
        self.assembler = EpisodeAssembler()
        self._open: dict[tuple[str, int], list[RawRecord]] = {}  # raw records of open episodes

    def add(self, record: sr.StepRecord, raw: RawRecord) -> tuple[Episode, list[RawRecord]] | None:
        """Returns (episode, its raw records) when `record` completes an episode."""
        key = (record.source, record.episode)
        if record.step == 0 and not record.last:
            self._open[key] = []
        records = self._open.pop(key, None) if record.last else self._open.get(key)
        if records is not None:
            records.append(raw)
        episode = self.assembler.add(record)
        if episode is None:
            if not self.assembler.is_open(*key):
                self._open.pop(key, None)  # dropped (a gap): its bytes are no longer needed
            return None
        return episode, records

    def drop_in_flight(self) -> int:
        """Forget unfinished episodes (end of a bag, shutdown); returns how many."""
        self._open.clear()
        return self.assembler.drop_in_flight()
