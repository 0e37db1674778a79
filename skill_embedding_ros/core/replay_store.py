"""The persistent replay store: a directory of rosbag2 (MCAP) bags of the graph's per-step
records. The replay recorder writes it (`StoreWriter`); the learner reads it (`StoreReader`).

A store directory holds

    chunk_000000/        a finished rosbag2 bag (metadata.yaml + chunk_000000.mcap), one per flush,
    chunk_000001/        holding only complete episodes
    wal_000002.log       write-ahead log: the complete episodes not yet in a chunk (chunk 2's)
    .incoming/           chunks being written or deleted: never read, cleared on open
    .lock                held (flock) by the one writer

A chunk IS a rosbag of the graph's record topics: one connection per actor topic
(/actor_0/step_records, std_msgs/msg/Float64MultiArray) holding the raw CDR bytes received, log
time = the recorder's receive time (made strictly increasing, so log-time order is arrival order).
`ros2 bag info`, `rosbags` and bag ingestion read it as it is; `read_bag` reads any such bag.

Crash safety. A chunk is written under .incoming/, fsynced and renamed into place, so a reader
sees a whole chunk or none. An episode is appended to the WAL (one CRC-checked frame, handed to
the kernel) the moment its closing record arrives; the WAL is swapped for an empty one right
after the chunk holding its episodes lands. Opening a store recovers the episodes of a WAL whose
chunk never landed into that chunk and drops a torn tail frame. So a `kill -9` at any moment
loses only the episodes still in flight (closing record not yet received) and never leaves a
corrupt or half chunk, nor an episode stored twice. A power cut can also lose the episodes logged
since the last chunk (the WAL is not fsynced; chunks are, before they appear).

Size bound: after each chunk the oldest chunks are deleted while the store exceeds max_bytes;
the newest chunk is always kept (and the WAL holds at most one flush period of episodes).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import yaml
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin

from skill_embedding_ros.core import step_record as sr
from skill_embedding_ros.core.assembly import EpisodeAssembler
from skill_embedding_ros.core.replay import Episode
from skill_embedding_ros.core.topic_names import STEP_RECORDS

# The QoS the records are published with (ros/topics.py RECORDS), as rosbag2 notes it; a zero
# time is ROS's default (no deadline, lifespan or lease).
_OFFERED_QOS = Qos(
    history=QosHistory.KEEP_LAST,
    depth=1000,
    reliability=QosReliability.RELIABLE,
    durability=QosDurability.VOLATILE,
    deadline=QosTime(0, 0),
    lifespan=QosTime(0, 0),
    liveliness=QosLiveliness.AUTOMATIC,
    liveliness_lease_duration=QosTime(0, 0),
    avoid_ros_namespace_conventions=False,
)
_INCOMING = ".incoming"
_CHUNK = re.compile(r"chunk_(\d+)")
_WAL = re.compile(r"wal_(\d+)\.log")
_WAL_MAGIC = b"SERWAL1\n"
_FRAME = struct.Struct("<II")  # payload bytes, crc32 of the payload
_RECORD = struct.Struct("<HqI")  # topic bytes, log time (ns), data bytes


class RawRecord(NamedTuple):
    """One record as received: its topic, log time and CDR bytes."""

    topic: str
    time_ns: int
    data: bytes


@dataclass
class ChunkInfo:
    """What one chunk holds (read from its metadata.yaml, no decoding)."""

    number: int
    path: Path
    episodes: int
    transitions: int
    bytes: int


def source_of(topic: str) -> str:
    """The actor a record topic belongs to: its namespace (/actor_0/step_records -> /actor_0)."""
    return topic.rsplit("/", 1)[0] or "/"


def is_record_topic(topic: str, msgtype: str) -> bool:
    return topic.rsplit("/", 1)[-1] == STEP_RECORDS and msgtype == sr.MSGTYPE


def chunk_name(number: int) -> str:
    return f"chunk_{number:06d}"


def chunk_numbers(path: Path | str) -> list[int]:
    """Numbers of the chunks in a store, oldest first."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:  # no store yet
        return []
    return sorted(int(m[1]) for m in map(_CHUNK.fullmatch, names) if m)


def list_chunks(path: Path | str) -> list[ChunkInfo]:
    """Every chunk of a store with its episodes, transitions and bytes (oldest first)."""
    out = []
    for number in chunk_numbers(path):
        chunk = Path(path) / chunk_name(number)
        try:
            meta = yaml.safe_load((chunk / "metadata.yaml").read_text())
            size = _dir_bytes(chunk)
        except FileNotFoundError:  # deleted by the size bound since the listing
            continue
        info = meta["rosbag2_bagfile_information"]
        episodes = int(info["custom_data"]["episodes"])
        out.append(ChunkInfo(number, chunk, episodes, info["message_count"] - episodes, size))
    return out


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
    never returned twice, and chunks deleted underneath it are simply gone.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.last_chunk = -1
        """Highest chunk number read (or skipped) so far."""
        self.unreadable: list[str] = []
        """Chunks that were present but could not be read, with why (for the caller to log)."""

    def new_episodes(self, max_transitions: int | None = None) -> list[Episode]:
        """Episodes of the chunks that landed since the last call (every chunk on the first),
        oldest first. With max_transitions, at most that many transitions: the newest chunks
        are read first and older unread ones are skipped for good (on resuming with a store
        larger than the replay, those are the ones it would evict anyway)."""
        numbers = [n for n in chunk_numbers(self.path) if n > self.last_chunk]
        budget = max_transitions
        batches = []  # newest chunk first
        for number in reversed(numbers):
            if budget is not None and budget <= 0:
                break
            episodes = self._read(number)
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
        if numbers:
            self.last_chunk = numbers[-1]
        return [episode for batch in reversed(batches) for episode in batch]

    def _read(self, number: int) -> list[Episode]:
        chunk = self.path / chunk_name(number)
        try:
            return read_bag(chunk)
        except Exception as err:  # a bad chunk must not stop the learner
            if chunk.exists():
                self.unreadable.append(f"{chunk.name}: {err}")
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


class ChunkBuilder:
    """One chunk being written: records go straight to the MCAP file (rosbags writes it in
    1 MiB zstd chunks), so memory stays bounded however many episodes it takes. Log times are
    made strictly increasing in write order (nudged by 1 ns where needed)."""

    def __init__(self, path: Path, custom_data: dict[str, str]):
        self.path = path
        self.episodes = 0
        """Complete episodes written (the caller counts them: metadata custom_data)."""
        self.records = 0
        self._last_ns = 0
        path.parent.mkdir(exist_ok=True)
        shutil.rmtree(path, ignore_errors=True)
        self._bag = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        # zstd inside the MCAP (rosbag2's own "storage" compression): every reader handles it.
        self._bag.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        for key, value in custom_data.items():
            self._bag.set_custom_data(key, str(value))
        self._bag.open()
        self._connections: dict[str, object] = {}

    def write(self, topic: str, time_ns: int, data: bytes) -> None:
        if topic not in self._connections:
            self._connections[topic] = self._bag.add_connection(
                topic, sr.MSGTYPE, typestore=sr.typestore(), offered_qos_profiles=[_OFFERED_QOS]
            )
        self._last_ns = max(int(time_ns), self._last_ns + 1)
        self._bag.write(self._connections[topic], self._last_ns, data)
        self.records += 1

    def set_custom_data(self, key: str, value: str) -> None:
        """A key of the chunk's metadata.yaml custom_data (before `finish`)."""
        self._bag.set_custom_data(key, str(value))

    def add_episode(self, records: list[RawRecord]) -> None:
        """Write one complete episode's records."""
        for r in records:
            self.write(r.topic, r.time_ns, r.data)
        self.episodes += 1

    def finish(self) -> None:
        """Close the bag (index, metadata.yaml) and fsync it, ready to be renamed into place."""
        self._bag.set_custom_data("episodes", str(self.episodes))
        self._bag.close()
        for file in self.path.iterdir():
            _fsync(file)
        _fsync_dir(self.path)

    def discard(self) -> None:
        """Drop the chunk (nothing of it reaches the store)."""
        with contextlib.suppress(Exception):
            self._bag.abort()
        shutil.rmtree(self.path, ignore_errors=True)


class StoreWriter:
    """Writes a store: `add` each raw record as it arrives, `flush` every flush period, `close`.

    Opening recovers what a crash left (see the module docstring) and continues the numbering.
    Only one writer may hold a store (RuntimeError otherwise).
    """

    def __init__(self, path: Path | str, max_bytes: float = float("inf")):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = _lock(self.path / ".lock")
        self._collector = EpisodeCollector()
        self.assembler = self._collector.assembler
        self._pending: list[list[RawRecord]] = []  # complete episodes: in the WAL, no chunk yet
        self._last_ns = 0
        self._sizes = {info.number: info.bytes for info in list_chunks(self.path)}
        self.recovered = self._recover()
        """Episodes a previous writer had logged but not yet put in a chunk, now in one."""
        self._wal = _Wal(self.path / f"wal_{self.next_chunk:06d}.log")
        _fsync_dir(self.path)
        self._bound()

    @property
    def chunks(self) -> int:
        return len(self._sizes)

    @property
    def size_bytes(self) -> int:
        """Bytes of all chunks (the size the bound applies to)."""
        return sum(self._sizes.values())

    def add(self, topic: str, data: bytes, time_ns: int) -> Episode | None:
        """Feed one record as received (CDR bytes); returns the episode it completes, which is
        then in the WAL. Raises ValueError for a malformed record (nothing is kept of it)."""
        record = sr.decode_cdr(data, source_of(topic))
        self._last_ns = max(int(time_ns), self._last_ns + 1)
        done = self._collector.add(record, RawRecord(topic, self._last_ns, bytes(data)))
        if done is None:
            return None
        episode, raw = done
        self._wal.append(raw)
        self._pending.append(raw)
        return episode

    def flush(self) -> ChunkInfo | None:
        """Write the pending episodes as the next chunk (None if there are none); then start an
        empty WAL and delete the oldest chunks beyond the size bound."""
        if not self._pending:
            return None
        info = self._write_chunk(self.next_chunk, self._pending)
        self._pending = []
        self._next()
        return info

    def new_chunk(self, **custom_data: str) -> ChunkBuilder:
        """A chunk to stream complete episodes into (bag ingestion), built under .incoming/:
        `land` puts it in place in one rename, `ChunkBuilder.discard` drops it, and a crash
        before landing leaves nothing (.incoming/ is cleared on open). Pending episodes are
        flushed first, so the chunk numbers stay in arrival order."""
        self.flush()
        return ChunkBuilder(self.path / _INCOMING / chunk_name(self.next_chunk), custom_data)

    def land(self, builder: ChunkBuilder) -> ChunkInfo:
        """Finish `builder` (from `new_chunk`) and put it in place as the next chunk; then as
        after a flush (fresh WAL, size bound)."""
        if builder.path.name != chunk_name(self.next_chunk):
            raise RuntimeError(f"{builder.path.name} is not the next chunk of {self.path}")
        builder.finish()
        info = self._place(builder, self.next_chunk)
        self._next()
        return info

    def _next(self) -> None:
        self.next_chunk += 1
        old, self._wal = self._wal, _Wal(self.path / f"wal_{self.next_chunk:06d}.log")
        old.close(remove=True)
        _fsync_dir(self.path)
        self._bound()

    def close(self) -> None:
        """Flush, drop the episodes in flight, remove the (empty) WAL, release the store."""
        self.flush()
        self._collector.drop_in_flight()
        self._wal.close(remove=True)
        self._lock.close()

    def _recover(self) -> int:
        shutil.rmtree(self.path / _INCOMING, ignore_errors=True)
        recovered = 0
        wals = sorted((int(m[1]), m[0]) for m in map(_WAL.fullmatch, os.listdir(self.path)) if m)
        for number, name in wals:
            # A WAL whose chunk exists was written into it before the crash: drop it.
            if not (self.path / chunk_name(number)).exists():
                episodes = read_wal(self.path / name)
                if episodes:
                    self._write_chunk(number, episodes)
                    recovered += len(episodes)
            (self.path / name).unlink()
        self.next_chunk = max([n + 1 for n in self._sizes] + [n for n, _ in wals], default=0)
        return recovered

    def _write_chunk(self, number: int, episodes: list[list[RawRecord]]) -> ChunkInfo:
        builder = ChunkBuilder(self.path / _INCOMING / chunk_name(number), {})
        try:
            for r in sorted((r for episode in episodes for r in episode), key=lambda r: r.time_ns):
                builder.write(r.topic, r.time_ns, r.data)
            builder.episodes = len(episodes)
            builder.finish()
        except BaseException:
            builder.discard()
            raise
        return self._place(builder, number)

    def _place(self, builder: ChunkBuilder, number: int) -> ChunkInfo:
        final = self.path / chunk_name(number)
        builder.path.rename(final)
        _fsync_dir(self.path)
        self._sizes[number] = _dir_bytes(final)
        transitions = builder.records - builder.episodes
        return ChunkInfo(number, final, builder.episodes, transitions, self._sizes[number])

    def _bound(self) -> None:
        while self.size_bytes > self.max_bytes and len(self._sizes) > 1:
            oldest = min(self._sizes)
            del self._sizes[oldest]
            # Moved aside first, so no reader ever finds half a chunk.
            trash = self.path / _INCOMING / f"deleted_{chunk_name(oldest)}"
            trash.parent.mkdir(exist_ok=True)
            (self.path / chunk_name(oldest)).rename(trash)
            shutil.rmtree(trash)


class _Wal:
    """Append-only log of complete episodes: one frame each, [length, crc32, records]."""

    def __init__(self, path: Path):
        self.path = path
        self._file = path.open("wb")
        self._file.write(_WAL_MAGIC)
        self._file.flush()

    def append(self, records: list[RawRecord]) -> None:
        parts = []
        for r in records:
            topic = r.topic.encode()
            parts += [_RECORD.pack(len(topic), r.time_ns, len(r.data)), topic, r.data]
        payload = b"".join(parts)
        # One write handed to the kernel: it survives a kill -9 of this process.
        self._file.write(_FRAME.pack(len(payload), zlib.crc32(payload)) + payload)
        self._file.flush()

    def close(self, remove: bool) -> None:
        self._file.close()
        if remove:
            self.path.unlink(missing_ok=True)


def read_wal(path: Path | str) -> list[list[RawRecord]]:
    """The episodes logged in a WAL file; a torn or corrupt frame ends it (the rest is ignored)."""
    data = Path(path).read_bytes()
    if not data.startswith(_WAL_MAGIC):
        return []
    episodes, pos = [], len(_WAL_MAGIC)
    while pos + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, pos)
        payload = data[pos + _FRAME.size : pos + _FRAME.size + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        episodes.append(_parse_frame(payload))
        pos += _FRAME.size + length
    return episodes


def _parse_frame(payload: bytes) -> list[RawRecord]:
    records, pos = [], 0
    while pos < len(payload):
        topic_len, time_ns, data_len = _RECORD.unpack_from(payload, pos)
        pos += _RECORD.size
        topic = payload[pos : pos + topic_len].decode()
        pos += topic_len
        records.append(RawRecord(topic, time_ns, payload[pos : pos + data_len]))
        pos += data_len
    return records


def _lock(path: Path):
    file = path.open("a")
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise RuntimeError(f"replay store {path.parent} is in use by another writer") from None
    return file  # the lock lasts while the file is open (and dies with the process)


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    _fsync(path)  # makes renames and unlinks inside it durable
