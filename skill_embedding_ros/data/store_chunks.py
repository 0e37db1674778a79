"""What a chunk of the replay store is: its name, its number, and the one check that decides
whether a directory entry is a readable chunk (`inspect_chunk`). The writer (numbering, size
bound, ingest's bag index) and the reader (what the learner reads) both go through it, so they
can never disagree about a chunk; see data/replay_store.py for the store as a whole."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import yaml

from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.topic_names import STEP_RECORDS

INCOMING = ".incoming"
"""Chunks being written or deleted: never read, cleared when a writer opens the store."""
_CHUNK = re.compile(r"chunk_([0-9]+)")
_MCAP_MAGIC = b"\x89MCAP0\r\n"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser where libyaml exists


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
    custom_data: dict[str, str] = field(default_factory=dict)
    """The chunk's metadata.yaml custom_data (episodes; for an ingested bag its digest and
    options)."""


class ChunkError(ValueError):
    """An entry named like a chunk that is not a readable one; the text says why."""


def source_of(topic: str) -> str:
    """The actor a record topic belongs to: its namespace (/actor_0/step_records -> /actor_0)."""
    return topic.rsplit("/", 1)[0] or "/"


def is_record_topic(topic: str, msgtype: str) -> bool:
    """Whether a topic carries per-step records: named .../step_records, of the record type."""
    return topic.rsplit("/", 1)[-1] == STEP_RECORDS and msgtype == sr.MSGTYPE


def chunk_name(number: int) -> str:
    return f"chunk_{number:06d}"


def chunk_number(name: str) -> int | None:
    """The number a directory entry's name claims (chunk_000012 -> 12), None for other names.

    Numbering goes by names alone, whatever the entry holds: the writer numbers past every
    such name and the reader's high-water mark passes every such name, so a damaged or stray
    entry can never make a new chunk land below what a reader has already passed."""
    match = _CHUNK.fullmatch(name)
    return int(match[1]) if match else None


def chunk_entries(path: Path | str) -> list[tuple[int, str]]:
    """(number, name) of every entry of a store named like a chunk, readable or not, oldest
    first (by number, then name: chunk_5 and chunk_000005 both claim 5)."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:  # no store yet
        return []
    return sorted((n, name) for name in names if (n := chunk_number(name)) is not None)


def chunk_numbers(path: Path | str) -> list[int]:
    """Numbers of every entry of a store named like a chunk (readable or not), oldest first."""
    return [number for number, _ in chunk_entries(path)]


def skip_message(name: str, why: str) -> str:
    """The one line the writer's users (recorder, ingest) give for an entry the store skips
    (the reader lists the same (name, why) in StoreReader.unreadable)."""
    return (
        f"{name} is not a readable chunk ({why}); skipped: move it out of the store "
        "(new chunks are numbered above it)"
    )


def inspect_chunk(path: Path | str) -> ChunkInfo:
    """THE check of what a chunk is: a directory named chunk_<n> whose metadata.yaml is a whole
    rosbag2 metadata file (its last key, `version`, present: a cut file lacks it) with
    consistent counts, whose storage files exist, and whose MCAP files are whole (magic at both
    ends: a cut MCAP has lost its footer). Reads only metadata and 16 bytes per file, so the
    writer can check every chunk on opening a store.

    Returns its ChunkInfo; raises ChunkError (why) for anything else, FileNotFoundError when it
    vanished meanwhile (deleted by the size bound)."""
    path = Path(path)
    number = chunk_number(path.name)
    if number is None:
        raise ChunkError("not named chunk_<number>")
    if not path.exists():
        raise FileNotFoundError(path)
    if not path.is_dir():
        raise ChunkError("a file, not a directory")
    meta = path / "metadata.yaml"
    try:
        text = meta.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        if not path.exists():
            raise FileNotFoundError(path) from None
        raise ChunkError("no metadata.yaml") from None
    info = _bag_information(text)
    custom = _custom_data(info)
    files = info.get("relative_file_paths")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise ChunkError("metadata.yaml lists no storage file")
    size = len(text)
    for name in files:
        size += _check_storage_file(path, name)
    messages = info["message_count"]
    episodes = int(custom["episodes"])
    return ChunkInfo(number, path, episodes, messages - episodes, size, custom)


def _bag_information(text: bytes) -> dict:
    """The checked rosbag2_bagfile_information mapping of a metadata.yaml."""
    try:
        doc = yaml.load(text, Loader=_LOADER)  # a safe loader: builds no objects
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        where = f", line {line + 1}" if line is not None else ""
        raise ChunkError(f"metadata.yaml is cut off or not YAML{where}") from None
    info = doc.get("rosbag2_bagfile_information") if isinstance(doc, dict) else None
    if not isinstance(info, dict):
        raise ChunkError("metadata.yaml holds no rosbag2_bagfile_information")
    if not isinstance(info.get("version"), int):
        raise ChunkError("metadata.yaml is cut off (no version)")
    count = info.get("message_count")
    if not isinstance(count, int) or count < 0:
        raise ChunkError("metadata.yaml has no message_count")
    topics = info.get("topics_with_message_count")
    try:
        per_topic = sum(int(t["message_count"]) for t in topics or [])
    except (TypeError, KeyError, ValueError):
        raise ChunkError("metadata.yaml has malformed topics") from None
    if per_topic != count:
        raise ChunkError(f"metadata.yaml counts {count} messages but {per_topic} by topic")
    return info


def _custom_data(info: dict) -> dict[str, str]:
    custom = info.get("custom_data")
    if not isinstance(custom, dict):
        raise ChunkError("metadata.yaml has no custom_data (not written by a store)")
    try:
        episodes = int(custom.get("episodes"))
    except (TypeError, ValueError):
        raise ChunkError("metadata.yaml has no episode count") from None
    if not 0 <= episodes <= info["message_count"]:
        raise ChunkError(f"metadata.yaml counts {episodes} episodes")
    return {str(k): str(v) for k, v in custom.items()}


def _check_storage_file(chunk: Path, name: str) -> int:
    """The size of one storage file of a chunk, checked to be there and, for MCAP, whole."""
    file = chunk / name
    if Path(name).is_absolute() or ".." in Path(name).parts or not file.is_file():
        raise ChunkError(f"storage file {name} is missing")
    size = file.stat().st_size
    if name.endswith(".mcap"):
        with file.open("rb") as f:
            head = f.read(len(_MCAP_MAGIC))
            f.seek(max(0, size - len(_MCAP_MAGIC)))
            tail = f.read()
        if head != _MCAP_MAGIC or tail != _MCAP_MAGIC or size < 2 * len(_MCAP_MAGIC):
            raise ChunkError(f"{name} is cut off or not MCAP")
    return size


def scan_chunks(path: Path | str) -> tuple[list[ChunkInfo], list[tuple[str, str]]]:
    """The readable chunks of a store (oldest first), and (name, why) for every other entry
    named like a chunk."""
    chunks, skipped = [], []
    for _, name in chunk_entries(path):
        try:
            chunks.append(inspect_chunk(Path(path) / name))
        except FileNotFoundError:  # deleted by the size bound since the listing
            continue
        except ChunkError as err:
            skipped.append((name, str(err)))
        except OSError as err:  # no permission, an I/O error
            skipped.append((name, err.strerror or type(err).__name__))
    return chunks, skipped


def list_chunks(path: Path | str) -> list[ChunkInfo]:
    """Every readable chunk of a store with its episodes, transitions and bytes (oldest
    first); entries named like chunks that are not readable ones are left out."""
    return scan_chunks(path)[0]
