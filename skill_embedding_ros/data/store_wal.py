"""The replay store's write-ahead log and its lock.

The WAL holds the complete episodes not yet in a chunk: one frame per episode,
[length, crc32, records], each handed to the kernel in one write, so it survives a kill -9 of the
writer; a torn or corrupt frame (a crash mid-write, a power cut) ends it on reading.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
import zlib
from pathlib import Path

from skill_embedding_ros.data.store_chunks import RawRecord

_WAL = re.compile(r"wal_([0-9]+)\.log")
_WAL_MAGIC = b"SERWAL1\n"
_FRAME = struct.Struct("<II")  # payload bytes, crc32 of the payload
_RECORD = struct.Struct("<HqI")  # topic bytes, log time (ns), data bytes


def wal_name(number: int) -> str:
    return f"wal_{number:06d}.log"


def wal_files(path: Path | str) -> list[tuple[int, str]]:
    """(number, name) of the WAL files in a store directory, oldest first."""
    return sorted((int(m[1]), m[0]) for m in map(_WAL.fullmatch, os.listdir(path)) if m)


class Wal:
    """Append-only log of complete episodes: one frame each, [length, crc32, records]."""

    def __init__(self, path: Path):
        self.path = path
        self.episodes = 0
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
        self.episodes += 1

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


def lock_store(path: Path):
    """Take the store's writer lock (flock on `path`); RuntimeError if another writer holds it.
    The lock lasts while the returned file is open and dies with the process."""
    file = path.open("a")
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise RuntimeError(
            f"replay store {path.parent} is in use by another writer (a running replay "
            "recorder or ingest): stop it, or use another store"
        ) from None
    return file
