"""The persistent replay store: a directory of rosbag2 (MCAP) bags of the graph's per-step
records. The replay recorder writes it (`StoreWriter`); the learner reads it (`StoreReader`).

A store directory holds

    chunk_000000/        a finished rosbag2 bag (metadata.yaml + chunk_000000.mcap), one per flush,
    chunk_000001/        holding only complete episodes
    wal_000002.log       write-ahead log: the complete episodes not yet in a chunk
    .incoming/           chunks being written or deleted: never read, cleared on open
    .lock                held (flock) by the one writer

A chunk IS a rosbag of the graph's record topics: one connection per actor topic
(/actor_0/step_records, std_msgs/msg/Float64MultiArray) holding the raw CDR bytes received, log
time = the recorder's receive time (made strictly increasing, so log-time order is arrival order).
`ros2 bag info`, `rosbags` and bag ingestion read it as it is; `read_bag` reads any such bag.

What is a chunk. One function, `store_chunks.inspect_chunk`, decides it for the writer and the
reader alike: a directory named chunk_<n> with a whole metadata.yaml and whole storage files.
Anything else named like a chunk (a cut or garbage metadata.yaml, a stray file, an empty
directory) is skipped by both with one message, and never stops a writer or a reader. Numbering
goes by names alone: new chunks are numbered past every name that looks like a chunk, readable
or not, and the reader's high-water mark passes them all, so numbers never go backwards.

Crash safety. A chunk is written under .incoming/, fsynced and renamed into place, so a reader
sees a whole chunk or none. An episode is appended to the WAL (one CRC-checked frame, handed to
the kernel) the moment its closing record arrives; the WAL is swapped for an empty one right
after the chunk holding its episodes lands (the chunk names its WAL in custom_data). Opening a
store turns a WAL whose chunk never landed into a chunk and drops a torn tail frame. So a
`kill -9` of the writer never leaves a corrupt or half chunk, nor an episode stored twice, and
loses no episode whose closing record `add` has seen; the recorder node says what a kill of it
loses on the way there (docs/ros_graph.md). The chunks a writer makes name the digests of their
episodes (custom_data `digests`, `episode_digest`), and `add` does not store again an episode
among the newest stored (also by an earlier writer): the records' publishers send their recent
history again to a recorder that (re)starts. A power cut can also lose the episodes logged since
the last chunk (the WAL is not fsynced; chunks are, before they appear).

Size bound: after each chunk the oldest chunks are deleted while the store exceeds max_bytes;
the newest chunk is always kept (and the WAL holds at most one flush period of episodes).

This module gathers the public names of store_chunks (naming, validation), store_reader
(reading), store_writer (writing) and store_wal (the write-ahead log).
"""

from skill_embedding_ros.data.store_chunks import (
    INCOMING,
    ChunkError,
    ChunkInfo,
    RawRecord,
    chunk_entries,
    chunk_name,
    chunk_number,
    chunk_numbers,
    inspect_chunk,
    is_record_topic,
    list_chunks,
    scan_chunks,
    skip_message,
    source_of,
)
from skill_embedding_ros.data.store_reader import EpisodeCollector, StoreReader, read_bag
from skill_embedding_ros.data.store_wal import read_wal
from skill_embedding_ros.data.store_writer import ChunkBuilder, StoreWriter

__all__ = [
    "INCOMING",
    "ChunkBuilder",
    "ChunkError",
    "ChunkInfo",
    "EpisodeCollector",
    "RawRecord",
    "StoreReader",
    "StoreWriter",
    "chunk_entries",
    "chunk_name",
    "chunk_number",
    "chunk_numbers",
    "inspect_chunk",
    "is_record_topic",
    "list_chunks",
    "read_bag",
    "read_wal",
    "scan_chunks",
    "skip_message",
    "source_of",
]
