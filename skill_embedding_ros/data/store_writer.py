"""Writing the replay store: `ChunkBuilder` (one chunk under .incoming/) and `StoreWriter` (the
recorder's and ingest's writer: WAL, chunks, recovery, numbering, size bound, replacements).
data/replay_store.py describes the layout and what a crash can lose."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import threading
from collections import OrderedDict
from pathlib import Path

from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin

from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.durable import fsync, fsync_dir
from skill_embedding_ros.data.replay import Episode
from skill_embedding_ros.data.store_chunks import (
    INCOMING,
    ChunkError,
    ChunkInfo,
    RawRecord,
    chunk_name,
    chunk_numbers,
    inspect_chunk,
    scan_chunks,
    skip_message,
    source_of,
)
from skill_embedding_ros.data.store_reader import EpisodeCollector
from skill_embedding_ros.data.store_wal import (
    Wal,
    lock_store,
    read_wal,
    wal_files,
    wal_name,
)

# The QoS the records are published with (ros/topics.py RECORDS), as rosbag2 notes it; a zero
# time is ROS's default (no deadline, lifespan or lease).
_OFFERED_QOS = Qos(
    history=QosHistory.KEEP_LAST,
    depth=1000,
    reliability=QosReliability.RELIABLE,
    durability=QosDurability.TRANSIENT_LOCAL,
    deadline=QosTime(0, 0),
    lifespan=QosTime(0, 0),
    liveliness=QosLiveliness.AUTOMATIC,
    liveliness_lease_duration=QosTime(0, 0),
    avoid_ros_namespace_conventions=False,
)
WAL_KEY = "wal"
"""custom_data key of every chunk this writer makes: the WAL files whose episodes it holds,
comma-joined ("none" for an ingested chunk); recovery drops a WAL a chunk names."""
SOURCE_KEY = "source_digest"
"""custom_data key of an ingested bag's chunk: the bag's digest (data/bags/ingest.py)."""
REPLACES_KEY = "replaces"
"""custom_data key of a chunk that replaces others (ingest --force): their names, comma-joined."""
DIGESTS_KEY = "digests"
"""custom_data key of every chunk `flush` (or recovery) writes: the `episode_digest` of each of
its episodes, comma-joined, so a writer opening the store knows the newest episodes stored."""
RECENT_EPISODES = 10_000
"""How many of the newest stored episodes `add` recognizes when they come again. The records'
publishers keep their last 5000 records for late joiners (ros/topics.py RECORDS), so a recorder
that (re)starts or matches a policy late gets that history, most of it stored already: about 100
episodes per policy at 50 steps (2500 at the very most, 2 records each)."""


def episode_digest(records: list[RawRecord]) -> str:
    """An episode's identity: BLAKE2b (64 bits) of its topic and every record's bytes. A copy
    sent again from a publisher's history is the same bytes; an episode that only shares its
    source, id and first stamp (a bridge and a policy both restarted) is not the same."""
    digest = hashlib.blake2b(records[0].topic.encode() if records else b"", digest_size=8)
    for r in records:
        digest.update(len(r.data).to_bytes(8, "little"))
        digest.update(r.data)
    return digest.hexdigest()


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
            fsync(file)
        fsync_dir(self.path)

    def discard(self) -> None:
        """Drop the chunk (nothing of it reaches the store)."""
        with contextlib.suppress(Exception):
            self._bag.abort()
        shutil.rmtree(self.path, ignore_errors=True)


class StoreWriter:
    """Writes a store: `add` each raw record as it arrives, `flush` every flush period, `close`.

    Opening recovers what a crash left (see data/replay_store.py), finishes an interrupted
    replacement, and numbers new chunks past every entry named like a chunk. Entries named
    like chunks that `inspect_chunk` rejects are left alone and listed in `skipped`. Only one
    writer may hold a store (RuntimeError otherwise). `add` and `flush` may run in two
    threads (one each), so a chunk being written never holds up the records arriving.
    """

    def __init__(self, path: Path | str, max_bytes: float = float("inf")):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = lock_store(self.path / ".lock")
        self._collector = EpisodeCollector()
        self.assembler = self._collector.assembler
        self._pending: list[list[RawRecord]] = []  # complete episodes: in the WAL, no chunk yet
        self._unwritten: list[list[RawRecord]] = []  # sealed by a flush whose write failed
        self._sealed: list[Wal] = []  # their WALs
        self._mutex = threading.RLock()  # what add and flush share: WAL, pending, chunk index
        self._flushing = threading.Lock()  # one flush at a time
        self._last_ns = 0
        self._recent: OrderedDict[str, None] = OrderedDict()  # digests of the newest episodes
        shutil.rmtree(self.path / INCOMING, ignore_errors=True)
        chunks, bad = scan_chunks(self.path)
        self._chunks = {c.path.name: c for c in chunks}
        self.skipped = [skip_message(name, why) for name, why in bad]
        """One line per entry named like a chunk that is not a readable one (left in place)."""
        self.next_chunk = max(chunk_numbers(self.path), default=-1) + 1
        # WAL names only grow too (a chunk names the WALs it holds): past every one on disk.
        self._wal_seq = max([self.next_chunk, *(n + 1 for n, _ in wal_files(self.path))])
        self.recovered = self._recover()
        """Episodes a previous writer had logged but not yet put in a chunk, now in one."""
        self._finish_replacements()
        self._remember_stored()
        self._wal = self._new_wal()
        fsync_dir(self.path)
        self._bound()

    @property
    def chunks(self) -> int:
        with self._mutex:
            return len(self._chunks)

    @property
    def size_bytes(self) -> int:
        """Bytes of all chunks (the size the bound applies to)."""
        with self._mutex:
            return sum(c.bytes for c in self._chunks.values())

    def chunks_of(self, key: str, value: str) -> list[ChunkInfo]:
        """The chunks whose custom_data has `key` = `value` (e.g. an ingested bag's digest)."""
        return [c for c in self._ordered() if c.custom_data.get(key) == value]

    def _new_wal(self) -> Wal:
        wal = Wal(self.path / wal_name(self._wal_seq))
        self._wal_seq += 1
        return wal

    def add(self, topic: str, data: bytes, time_ns: int) -> Episode | None:
        """Feed one record as received (CDR bytes); returns the episode it completes, which is
        then in the WAL. An episode among the newest RECENT_EPISODES stored (also by an earlier
        writer) is not stored again: counted as `episodes_duplicate`, None returned. Raises
        ValueError for a malformed record (nothing is kept of it), and OSError when the WAL
        cannot be written (the episode still goes into the next chunk)."""
        record = sr.decode_cdr(data, source_of(topic))
        self._last_ns = max(int(time_ns), self._last_ns + 1)
        done = self._collector.add(record, RawRecord(topic, self._last_ns, bytes(data)))
        if done is None:
            return None
        episode, raw = done
        digest = episode_digest(raw)
        with self._mutex:
            if digest in self._recent:
                self.assembler.counts["episodes_duplicate"] += 1
                return None
            self._remember(digest)
            self._pending.append(raw)  # first: a failed log write still leaves it for a chunk
            self._wal.append(raw)
        return episode

    def _remember(self, digest: str) -> None:
        self._recent[digest] = None
        while len(self._recent) > RECENT_EPISODES:
            self._recent.popitem(last=False)

    def _remember_stored(self) -> None:
        """Learn the digests of the newest episodes in the store (from the chunks' metadata)."""
        newest: list[str] = []
        for chunk in reversed(self._ordered()):
            digests = chunk.custom_data.get(DIGESTS_KEY, "").split(",")
            newest += reversed([d for d in digests if d])
            if len(newest) >= RECENT_EPISODES:
                break
        for digest in reversed(newest[:RECENT_EPISODES]):
            self._remember(digest)

    def flush(self) -> ChunkInfo | None:
        """Write the pending episodes as the next chunk (None if there are none), then delete
        the oldest chunks beyond the size bound. The episodes and their WAL are sealed under
        the lock and a fresh WAL takes new ones, so `add` in another thread never waits for
        the chunk's writing and fsyncs; a write that fails (OSError: a full disk) keeps the
        sealed episodes and WALs for the next flush."""
        with self._flushing:
            with self._mutex:
                if self._pending:
                    self._unwritten += self._pending
                    self._pending = []
                    self._sealed.append(self._wal)
                    self._wal = self._new_wal()
            if not self._unwritten:
                return None
            names = ",".join(wal.path.name for wal in self._sealed)
            info = self._write_chunk(self._unwritten, {WAL_KEY: names})
            for wal in self._sealed:
                wal.close(remove=True)
            self._unwritten, self._sealed = [], []
            fsync_dir(self.path)
            self._bound()
            return info

    def new_chunk(self, **custom_data: str) -> ChunkBuilder:
        """A chunk to stream complete episodes into (bag ingestion), built under .incoming/:
        `land` puts it in place in one rename, `ChunkBuilder.discard` drops it, and a crash
        before landing leaves nothing (.incoming/ is cleared on open). Pending episodes are
        flushed first, so the chunk numbers stay in arrival order."""
        self.flush()
        return ChunkBuilder(self.path / INCOMING / "ingest", custom_data)

    def land(self, builder: ChunkBuilder, replaces: list[str] = ()) -> ChunkInfo:
        """Finish `builder` (from `new_chunk`) and put it in place as the next chunk, then
        delete the chunks named in `replaces`; then as after a flush (fresh WAL, size bound).
        The replacement is recorded in the new chunk, so a crash before the old chunks are
        gone is finished by the next writer to open the store."""
        if builder.path.parent != self.path / INCOMING:
            raise RuntimeError(f"{builder.path} is not a chunk being built in {self.path}")
        if replaces:
            builder.set_custom_data(REPLACES_KEY, ",".join(replaces))
        builder.set_custom_data(WAL_KEY, "none")  # holds no WAL (rosbags drops "")
        builder.finish()
        info = self._place(builder)
        for name in replaces:
            self._delete(name)
        self._bound()
        return info

    def close(self) -> None:
        """Flush, drop the episodes in flight, remove the (empty) WAL, release the store. If
        the flush fails, the WAL files stay: the next writer to open the store recovers them."""
        try:
            self.flush()
        finally:
            self._collector.drop_in_flight()
            self._wal.close(remove=not self._pending and not self._unwritten)
            for wal in self._sealed:
                wal.close(remove=False)
            self._lock.close()

    def _ordered(self) -> list[ChunkInfo]:
        with self._mutex:
            return sorted(self._chunks.values(), key=lambda c: (c.number, c.path.name))

    def _recover(self) -> int:
        """Turn every WAL whose episodes are in no chunk into a new chunk; drop the others."""
        recovered = 0
        for number, name in wal_files(self.path):
            # Its chunk landed before the crash: one that names it, or (a store written before
            # chunks named their WALs) the chunk of its number.
            older = self._chunks.get(chunk_name(number))
            done = any(name in c.custom_data.get(WAL_KEY, "").split(",") for c in self._ordered())
            done = done or (older is not None and WAL_KEY not in older.custom_data)
            if not done:
                episodes = read_wal(self.path / name)
                if episodes:
                    self._write_chunk(episodes, {WAL_KEY: name})
                    recovered += len(episodes)
            (self.path / name).unlink()
        return recovered

    def _finish_replacements(self) -> None:
        """Delete what a landed replacement chunk replaces, if a crash left it behind; only
        chunks of the same ingested bag (the same source digest) are ever deleted."""
        for chunk in self._ordered():
            digest = chunk.custom_data.get(SOURCE_KEY)
            for name in filter(None, chunk.custom_data.get(REPLACES_KEY, "").split(",")):
                old = self._chunks.get(name)
                if old is not None and digest and old.custom_data.get(SOURCE_KEY) == digest:
                    self._delete(name)

    def _write_chunk(self, episodes: list[list[RawRecord]], custom: dict[str, str]) -> ChunkInfo:
        custom = {**custom, DIGESTS_KEY: ",".join(map(episode_digest, episodes))}
        builder = ChunkBuilder(self.path / INCOMING / "flush", custom)
        try:
            for r in sorted((r for episode in episodes for r in episode), key=lambda r: r.time_ns):
                builder.write(r.topic, r.time_ns, r.data)
            builder.episodes = len(episodes)
            builder.finish()
        except BaseException:
            builder.discard()
            raise
        return self._place(builder)

    def _place(self, builder: ChunkBuilder) -> ChunkInfo:
        """Rename a finished chunk into place as the next chunk: numbered past every entry
        named like a chunk, including ones that appeared since the last look."""
        with self._mutex:
            self.next_chunk = max([self.next_chunk, *[n + 1 for n in chunk_numbers(self.path)]])
            final = self.path / chunk_name(self.next_chunk)
            builder.path.rename(final)
            self.next_chunk += 1
        fsync_dir(self.path)
        try:
            info = inspect_chunk(final)
        except ChunkError as err:  # would be a bug of this writer: say so loudly
            raise RuntimeError(f"the store wrote a chunk it cannot read: {err}") from None
        with self._mutex:
            self._chunks[final.name] = info
        return info

    def _delete(self, name: str) -> None:
        """Remove a chunk: moved aside first, so no reader ever finds half a chunk."""
        with self._mutex:
            self._chunks.pop(name, None)
        trash = self.path / INCOMING / f"deleted_{name}"
        trash.parent.mkdir(exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            (self.path / name).rename(trash)
            shutil.rmtree(trash)

    def _bound(self) -> None:
        while self.size_bytes > self.max_bytes and len(self._chunks) > 1:
            self._delete(self._ordered()[0].path.name)
