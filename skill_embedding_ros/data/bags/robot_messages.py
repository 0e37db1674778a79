"""The robot topics' messages (data/bags/sources.py TYPES), decoded from CDR bytes straight into
the few fields bag alignment reads.

rosbags' generic deserializer builds a message object per nested type and a numpy array per
sequence, which alignment then turns back into Python values; a robot bag is mostly these
messages, and reading only the fields costs less (`benchmarks/bench_ingest.py` measures the
ingest around it). It is used only where the bag's definition of the type is ROS 2's (the
type hash matches the distribution's): any other definition (a ROS 1 bag's header carries a
`seq`) goes through rosbags and is then read into the same fields. Either way malformed bytes
raise ValueError, and the fast path rejects whatever rosbags rejects (test_robot_messages.py
holds the two to the same answers on mutated and truncated messages).

CDR as rosbags reads it: a 4-byte encapsulation header (byte 1: little endian), then each
field aligned to its own size from the start of the payload; strings are a uint32 length
counting a closing NUL; sequences a uint32 count, then the elements.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from typing import NamedTuple

from skill_embedding_ros.data import step_record as sr

JOINT_STATE = "sensor_msgs/msg/JointState"
FLOAT64_ARRAY = "std_msgs/msg/Float64MultiArray"
POSE_STAMPED = "geometry_msgs/msg/PoseStamped"
STRING = "std_msgs/msg/String"


class JointStateFields(NamedTuple):
    stamp_ns: int
    names: tuple[str, ...]
    positions: tuple[float, ...]
    velocities: tuple[float, ...]


class ArrayFields(NamedTuple):
    labels: list[str]
    """The layout's dimension labels (a safety stop is labelled, topic_names.SAFETY_STOP)."""
    data: tuple[float, ...]


class PoseFields(NamedTuple):
    stamp_ns: int
    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float]
    """Quaternion (w, x, y, z), the order of the suites' poses."""


def decoder(typestore, msgtype: str, through_rosbags: bool = False) -> Callable[[bytes], object]:
    """bytes -> the type's fields (a str for std_msgs/String), ValueError if malformed.
    `typestore`: the definitions of the bag's CDR bytes (data/bags/reader.py BagFile.typestore);
    the fast path serves them only where they are ROS 2's. `through_rosbags`: rosbags' decoder
    whatever the definition (the reference the fast path is tested against)."""
    if msgtype not in _FAST:
        raise ValueError(f"no robot-message decoder for {msgtype}")
    if not through_rosbags and typestore.hash_rihs01(msgtype) == _ros2_hash(msgtype):
        read = _FAST[msgtype]()
    else:
        convert = _FROM_MESSAGE[msgtype]

        def read(data: bytes):
            return convert(typestore.deserialize_cdr(data, msgtype))

    def decode(data: bytes):
        try:
            return read(data)
        except Exception as err:  # truncated or garbled bytes raise anything from struct up
            text = str(err).strip() or type(err).__name__
            raise ValueError(f"malformed {msgtype}: {text}") from None

    return decode


@functools.cache
def _ros2_hash(msgtype: str) -> str:
    return sr.typestore().hash_rihs01(msgtype)


# -- the fast path -------------------------------------------------------------------------
# Flat functions over (payload, offset) rather than a reader object: a method call per field
# cost as much as rosbags' whole decode.


class _Doubles(dict):
    """n -> the struct of n float64s in one byte order, made on first use and kept for the few
    lengths a robot sends (up to 256 values: a damaged bag's many lengths do not pile up)."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def __missing__(self, n: int) -> struct.Struct:
        made = struct.Struct(f"{self.prefix}{n}d")
        if n <= 256:
            self[n] = made
        return made


class _Order(NamedTuple):
    """The structs of one byte order."""

    uint32: struct.Struct
    time: struct.Struct
    doubles: _Doubles


_ORDERS = {
    order: _Order(struct.Struct(f"{p}I"), struct.Struct(f"{p}iI"), _Doubles(p))
    for order, p in ((0, ">"), (1, "<"))
}


def _payload(raw: bytes) -> tuple[memoryview, _Order]:
    if len(raw) < 4 or raw[0] != 0 or raw[1] > 1:
        raise ValueError("invalid or unsupported CDR encapsulation")
    return memoryview(raw)[4:], _ORDERS[raw[1]]


def _count(d: memoryview, pos: int, o: _Order, minimum: int) -> tuple[int, int]:
    """A sequence's length; one that cannot fit in what is left is malformed (rosbags' check,
    which also keeps a corrupt count from running a long loop)."""
    pos = (pos + 3) & -4
    (n,) = o.uint32.unpack_from(d, pos)
    if pos + 4 + n * minimum > len(d):
        raise ValueError(f"invalid sequence length {n} at offset {pos}")
    return n, pos + 4


def _string(d: memoryview, pos: int, o: _Order) -> tuple[str, int]:
    """A string and the offset after it; rosbags' checks: a length that counts the closing NUL
    and fits, and UTF-8."""
    pos = (pos + 3) & -4
    (length,) = o.uint32.unpack_from(d, pos)
    stop = pos + 4 + length
    if length < 1 or stop > len(d) or d[stop - 1] != 0:
        raise ValueError(f"invalid string of length {length} at offset {pos}")
    return bytes(d[pos + 4 : stop - 1]).decode(), stop


def _float64s(d: memoryview, pos: int, o: _Order, read=True) -> tuple[tuple[float, ...], int]:
    """A float64 sequence (read=False: only the offset after it)."""
    n, pos = _count(d, pos, o, 8)
    if not n:
        return (), pos
    pos = (pos + 7) & -8
    return (o.doubles[n].unpack_from(d, pos) if read else ()), pos + 8 * n


def _stamp_ns(d: memoryview, o: _Order) -> tuple[int, int]:
    """A std_msgs/Header's stamp, and the offset after it (its frame_id is read past)."""
    sec, nanosec = o.time.unpack_from(d, 0)
    return sec * 1_000_000_000 + nanosec, _string(d, 8, o)[1]


def _done(d: memoryview, pos: int, value):
    """`value`, if the message ended at `pos`: not past the bytes (a field that was skipped,
    not read, may run past them) nor more than 3 bytes of padding short of them (rosbags'
    rule)."""
    if not len(d) - 3 <= pos <= len(d):
        raise ValueError(f"message of {len(d)} bytes ends at {pos}")
    return value


def _joint_state_reader() -> Callable[[bytes], JointStateFields]:
    """A JointState reader that remembers the bytes of the last names it decoded: a robot
    sends the same names in every message, and for an arm decoding them is most of the work.
    Equal bytes (lengths, characters, padding) hold equal names."""
    last_bytes, last_names = b"", ()

    def read(raw: bytes) -> JointStateFields:
        nonlocal last_bytes, last_names
        d, o = _payload(raw)
        stamp, pos = _stamp_ns(d, o)
        count, pos = _count(d, pos, o, 5)
        end = pos + len(last_bytes)
        if count == len(last_names) and d[pos:end] == last_bytes:
            names, pos = last_names, end
        else:
            names, end = [], pos
            for _ in range(count):
                name, end = _string(d, end, o)
                names.append(name)
            names, last_bytes, pos = tuple(names), bytes(d[pos:end]), end
            last_names = names
        positions, pos = _float64s(d, pos, o)
        velocities, pos = _float64s(d, pos, o)
        _, pos = _float64s(d, pos, o, read=False)  # effort
        return _done(d, pos, JointStateFields(stamp, names, positions, velocities))

    return read


def _float64_array(raw: bytes) -> ArrayFields:
    d, o = _payload(raw)
    count, pos = _count(d, 0, o, 1)
    labels = []
    for _ in range(count):
        label, pos = _string(d, pos, o)
        labels.append(label)
        pos = ((pos + 3) & -4) + 8  # size, stride
    pos = ((pos + 3) & -4) + 4  # data_offset
    data, pos = _float64s(d, pos, o)
    return _done(d, pos, ArrayFields(labels, data))


def _pose_stamped(raw: bytes) -> PoseFields:
    d, o = _payload(raw)
    stamp, pos = _stamp_ns(d, o)
    pos = (pos + 7) & -8
    x, y, z, qx, qy, qz, qw = o.doubles[7].unpack_from(d, pos)
    return _done(d, pos + 56, PoseFields(stamp, (x, y, z), (qw, qx, qy, qz)))


def _string_message(raw: bytes) -> str:
    d, o = _payload(raw)
    text, pos = _string(d, 0, o)
    return _done(d, pos, text)


_FAST = {
    JOINT_STATE: _joint_state_reader,
    FLOAT64_ARRAY: lambda: _float64_array,
    POSE_STAMPED: lambda: _pose_stamped,
    STRING: lambda: _string_message,
}
"""Each type's fast reader, made per decoder (a reader may remember what it read)."""


# -- any other definition: rosbags' message, read into the same fields ---------------------------


def _stamp(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def _floats(values) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


_FROM_MESSAGE = {
    JOINT_STATE: lambda m: JointStateFields(
        _stamp(m.header), tuple(m.name), _floats(m.position), _floats(m.velocity)
    ),
    FLOAT64_ARRAY: lambda m: ArrayFields([d.label for d in m.layout.dim], _floats(m.data)),
    POSE_STAMPED: lambda m: PoseFields(
        _stamp(m.header),
        _floats((m.pose.position.x, m.pose.position.y, m.pose.position.z)),
        _floats(
            (
                m.pose.orientation.w,
                m.pose.orientation.x,
                m.pose.orientation.y,
                m.pose.orientation.z,
            )
        ),
    ),
    STRING: lambda m: str(m.data),
}
