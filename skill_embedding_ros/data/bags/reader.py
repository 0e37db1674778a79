"""Any rosbag, streamed: a rosbag2 directory (MCAP or sqlite3 storage), a bare `.mcap` or `.db3`
file, or a ROS 1 `.bag`, all through `rosbags` (pure Python, no ROS install).

Messages come in log-time order as CDR bytes whatever the bag's version (ROS 1 data is converted
to CDR with the bag's own message definitions), so one decoder serves every bag. Reading is
streamed: rosbags decompresses one MCAP chunk (or ROS 1 chunk, or sqlite page) at a time, so
memory does not grow with the bag. Every failure of the bag itself (missing, truncated, corrupt,
undecodable) surfaces as a `BagError` saying which bag and what went wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from skill_embedding_ros.data import step_record as sr

HEADER = "std_msgs/msg/Header"


class BagError(ValueError):
    """A bag that cannot be read, or not as asked (missing topic, wrong type)."""


class BagFile:
    """One bag, opened with `with BagFile(path) as bag:`."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"{self.path}: no such bag")
        self._reader: AnyReader | None = None
        self._typestore = None

    def __enter__(self) -> BagFile:
        for db in [self.path] if self.path.is_file() else sorted(self.path.glob("*.db3")):
            _check_sqlite_length(db)
        try:
            # The distribution's definitions serve bags that carry none (older sqlite3 bags).
            self._reader = AnyReader([self.path], default_typestore=sr.typestore())
            self._reader.open()
            store = self._reader.typestore
            self._typestore = store if self._reader.is2 else _cdr_types(store)
        except Exception as err:  # rosbags raises many kinds on a damaged file
            self._reader = None
            raise BagError(f"{self.path}: not a readable bag ({_describe(err)})") from None
        # A damaged sqlite3 index can hand rosbags a NULL topic or type (test_bag_fuzz).
        for c in self._reader.connections:
            if not (isinstance(c.topic, str) and isinstance(c.msgtype, str)):
                self.__exit__()
                raise BagError(
                    f"{self.path}: not a readable bag (a connection with topic {c.topic!r} and "
                    f"type {c.msgtype!r}: its index is damaged)"
                )
        return self

    def __exit__(self, *exc) -> None:
        if self._reader is not None:
            reader, self._reader, self._typestore = self._reader, None, None
            reader.close()

    @property
    def reader(self) -> AnyReader:
        if self._reader is None:
            raise RuntimeError("BagFile is not open")
        return self._reader

    @property
    def typestore(self):
        """The definitions of the CDR bytes `messages` yields (rosbags Typestore)."""
        if self._typestore is None:
            raise RuntimeError("BagFile is not open")
        return self._typestore

    @property
    def ros1(self) -> bool:
        return not self.reader.is2

    @property
    def topics(self) -> dict[str, str]:
        """topic -> message type (rosbags spelling, e.g. sensor_msgs/msg/JointState)."""
        return {c.topic: c.msgtype for c in self.reader.connections}

    def count(self, topics: Iterable[str]) -> int:
        """Messages on these topics according to the bag's index (0 where it has none)."""
        wanted = set(topics)
        return sum(c.msgcount for c in self.reader.connections if c.topic in wanted)

    def messages(self, topics: Iterable[str]) -> Iterator[tuple[str, int, bytes]]:
        """(topic, log time in ns, CDR bytes) of the messages on `topics`, in log-time order.

        A failure while reading (a corrupt chunk, a truncated record) raises BagError naming
        how far it got; what was yielded before it stays valid."""
        reader = self.reader
        wanted = set(topics)
        connections = [c for c in reader.connections if c.topic in wanted]
        if not connections:
            return
        convert = self.typestore.ros1_to_cdr if self.ros1 else None
        read = 0
        try:  # around the loop, not each step: what the caller does never raises in here
            for connection, time_ns, raw in reader.messages(connections=connections):
                data = convert(raw, connection.msgtype) if convert else raw
                read += 1
                yield connection.topic, time_ns, bytes(data)
        except Exception as err:  # a damaged bag: say where, never crash the caller
            raise BagError(
                f"{self.path}: unreadable after {read} messages ({_describe(err)})"
            ) from None


def _cdr_types(ros1):
    """A ROS 1 bag's definitions as its messages are in CDR: rosbags' conversion drops every
    header's `seq` (ROS 2 has none) and reads the header's definition as ROS 2's, so the bag's
    own header (with `seq`) would have it skipped twice (found by test_bag_align's ROS 1 bag)."""
    store = get_typestore(Stores.EMPTY)
    store.register({**ros1.fielddefs, HEADER: sr.typestore().fielddefs[HEADER]})
    return store


SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_sqlite_length(path: Path) -> None:
    """Raise BagError for a sqlite3 file shorter than its header says. SQLite reads the pages
    past a truncated end as zeros, without an error, so a cut-off .db3 would hand back
    messages whose tails are zeroed instead of failing (found by test_bag_fuzz)."""
    with open(path, "rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return  # not sqlite (or too short to say): the reader decides
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count in the header is valid only when it was written with the change counter.
    if header[24:28] != header[92:96] or pages == 0:
        return
    size, expected = path.stat().st_size, page_size * pages
    if size < expected:
        raise BagError(f"{path}: truncated sqlite3 file ({size} of {expected} bytes)")


def _describe(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
