"""The per-step record: what a skill-policy node publishes each control step, and the one layout
every reader (replay recorder, bag ingestion, tools) decodes.

On the wire it is a std_msgs/Float64MultiArray: `data` holds the fields below back to back and
`layout.dim` names them, one MultiArrayDimension per field (label = field name, size = values).
A record is thus self-describing in `ros2 topic echo` and in a bag. This module is ROS-free: it
works on (labels, sizes, data) so rclpy messages and `rosbags` messages decode the same way, and
`decode_cdr` turns the raw bytes of the topic (a `raw=True` subscription, a bag) into a record.

Record k of an episode of L steps (k < L) holds s_k, a_k, r_k = r(s_{k+1}) and the behaviour
log-probabilities of a_k and of the z held at step k. One more record, k = L with the LAST flag,
carries the final observation s_L; its other fields are NaN.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, get_typestore

VERSION = 1
MSGTYPE = "std_msgs/msg/Float64MultiArray"
"""The record's message type (rosbag2 / rosbags spelling)."""

# flags (a bit field, stored as a float)
Z_DRAWN = 1  # z was drawn at this step (episode start or a resample)
TERMINAL = 2  # the transition from this step ended the task (not a time limit)
INTERVENTION = 4  # a person or the safety gate replaced the policy's action
LAST = 8  # the closing record: only obs (s_L) is meaningful
EVALUATION = 16  # acted with the mean action (evaluate mode); log b(a|s,z) is NaN
DEMONSTRATION = 32  # the action came from outside the policy (an ingested bag); log b is NaN


@dataclass
class StepRecord:
    """One decoded record. `source` names the actor (its namespace); not part of `data`."""

    stamp_ns: int
    """Time of s_k (the observation's stamp), in nanoseconds of the actor's clock."""
    episode: int
    """Episode counter of this actor."""
    step: int
    """k: step within the episode (L for the closing record)."""
    task: int
    obs: np.ndarray
    action: np.ndarray
    reward: float
    z: np.ndarray
    log_b_z: float
    log_b_a: float
    flags: int
    source: str = ""

    @property
    def last(self) -> bool:
        return bool(self.flags & LAST)


def field_sizes(obs_dim: int, action_dim: int, z_dim: int) -> list[tuple[str, int]]:
    """(label, size) of each field, in wire order."""
    return [
        ("version", 1),
        ("stamp", 2),  # sec, nanosec: each exact in a float64
        ("episode", 1),
        ("step", 1),
        ("task", 1),
        ("obs", obs_dim),
        ("action", action_dim),
        ("reward", 1),
        ("z", z_dim),
        ("log_b_z", 1),
        ("log_b_a", 1),
        ("flags", 1),
    ]


_FIELDS = {
    "version": lambda r: VERSION,
    "stamp": lambda r: divmod(int(r.stamp_ns), 1_000_000_000),
    "episode": lambda r: r.episode,
    "step": lambda r: r.step,
    "task": lambda r: r.task,
    "obs": lambda r: r.obs,
    "action": lambda r: r.action,
    "reward": lambda r: r.reward,
    "z": lambda r: r.z,
    "log_b_z": lambda r: r.log_b_z,
    "log_b_a": lambda r: r.log_b_a,
    "flags": lambda r: r.flags,
}
"""Which record attribute fills which field of the layout (field_sizes gives the order)."""


def encode(record: StepRecord) -> tuple[list[tuple[str, int]], np.ndarray]:
    """A record as ([(label, size)], float64 data). Values are gathered as Python numbers (a
    policy encodes one record per step, and a numpy array per field cost more than the values);
    float32 arrays widen exactly, as they would in numpy."""
    layout = field_sizes(len(record.obs), len(record.action), len(record.z))
    values = []
    for name, _ in layout:
        value = _FIELDS[name](record)
        if isinstance(value, np.ndarray):
            values += value.tolist()
        elif isinstance(value, tuple):  # the stamp's (sec, nanosec)
            values += value
        else:
            values.append(value)
    return layout, np.array(values, np.float64)


LABELS = tuple(name for name, _ in field_sizes(0, 0, 0))
"""The field labels in wire order: what a record's layout must name."""
FIXED = {
    name: size
    for (name, size), (_, other) in zip(field_sizes(0, 0, 0), field_sizes(1, 1, 1), strict=True)
    if size == other and name != "version"
}
"""The fields whose size does not depend on the suite (all but version, obs, action and z)."""
NAN_ALLOWED = ("reward", "log_b_z", "log_b_a")
"""Fixed fields the closing record leaves NaN; the others must be finite in every record."""


def decode(
    labels: Sequence[str], sizes: Sequence[int], data: np.ndarray, source: str = ""
) -> StepRecord:
    """Inverse of `encode`; raises ValueError saying what is wrong with a malformed record.

    The small fields are read and checked as Python floats: a record is decoded for every step
    of every actor (recorder, store, bag ingestion), and numpy calls on 1-element arrays cost
    more than the numbers (bag ingestion: benchmarks/bench_ingest.py)."""
    data = np.asarray(data, np.float64)
    if tuple(labels) != LABELS:
        raise ValueError(f"not a step record: fields {list(labels)}, expected {list(LABELS)}")
    if sum(sizes) != len(data):
        raise ValueError(f"step record: fields declare {sum(sizes)} values, data has {len(data)}")
    if len(sizes) != len(LABELS):
        raise ValueError(f"step record: {len(sizes)} field sizes for {len(LABELS)} fields")
    starts = [0, *itertools.accumulate(sizes)]
    at = {name: slice(a, b) for name, a, b in zip(LABELS, starts[:-1], starts[1:], strict=True)}
    flat = data.tolist()
    if flat[at["version"]] != [VERSION]:
        raise ValueError(f"step record version {flat[at['version']]}, expected {VERSION}")
    small = {name: flat[at[name]] for name in FIXED}
    for name, values in small.items():
        if len(values) != FIXED[name] or (
            name not in NAN_ALLOWED and not all(map(math.isfinite, values))
        ):
            raise ValueError(f"step record: field {name!r} is malformed: {values}")
    sec, nanosec = (int(v) for v in small["stamp"])
    return StepRecord(
        stamp_ns=sec * 1_000_000_000 + nanosec,
        episode=int(small["episode"][0]),
        step=int(small["step"][0]),
        task=int(small["task"][0]),
        obs=data[at["obs"]].astype(np.float32),
        action=data[at["action"]].astype(np.float32),
        reward=small["reward"][0],
        z=data[at["z"]].astype(np.float32),
        log_b_z=small["log_b_z"][0],
        log_b_a=small["log_b_a"][0],
        flags=int(small["flags"][0]),
        source=source,
    )


def closing_record(stamp_ns, episode, step, task, obs, action_dim, z_dim, flags=0) -> StepRecord:
    """The LAST record of an episode: s_L and NaN elsewhere."""
    nan = float("nan")
    return StepRecord(
        stamp_ns=stamp_ns,
        episode=episode,
        step=step,
        task=task,
        obs=np.asarray(obs, np.float32),
        action=np.full(action_dim, nan, np.float32),
        reward=nan,
        z=np.full(z_dim, nan, np.float32),
        log_b_z=nan,
        log_b_a=nan,
        flags=flags | LAST,
    )


@functools.cache
def typestore():
    """The ROS 2 message definitions of the graph's distribution (pure Python, from rosbags)."""
    return get_typestore(Stores.ROS2_KILTED)


def _serialize(layout: tuple[tuple[str, int], ...], data: np.ndarray) -> bytes:
    """rosbags' CDR serialization of a Float64MultiArray: the wire format's one source."""
    store = typestore()
    dim = store.types["std_msgs/msg/MultiArrayDimension"]
    msg = store.types[MSGTYPE](
        layout=store.types["std_msgs/msg/MultiArrayLayout"](
            dim=[dim(label=name, size=size, stride=size) for name, size in layout], data_offset=0
        ),
        data=data,
    )
    return bytes(store.serialize_cdr(msg, MSGTYPE))


_KNOWN: dict[bytes, tuple[tuple[str, ...], tuple[int, ...], int]] = {}
"""CDR prefix -> (labels, sizes, whole record's length in bytes) of the layouts seen: a process
sees one or two."""


@functools.lru_cache(maxsize=16)
def _cdr_prefix(layout: tuple[tuple[str, int], ...]) -> bytes:
    """Every CDR byte of a record with this layout that precedes its values, which follow as
    little-endian float64s to the end: the layout, its length fields and padding are the same
    for every record of a run. Cut from one rosbags serialization, so rosbags stays the one
    source of the wire format (test_step_record checks both paths agree byte for byte)."""
    n = sum(size for _, size in layout)
    raw = _serialize(layout, np.zeros(n))
    return raw[: len(raw) - 8 * n]


def prepare_encoder(obs_dim: int, action_dim: int, z_dim: int) -> None:
    """Build now what `encode_cdr` builds at its first record of these sizes: rosbags' message
    definitions and the layout's bytes. That took 56 ms in a composed real-time actor, inside
    its first step, and the safety gate's watchdog in the same process ran late (a stop at the
    first episode): a node that encodes records in its control loop calls this before it."""
    _cdr_prefix(tuple(field_sizes(obs_dim, action_dim, z_dim)))


def encode_cdr(record: StepRecord) -> bytes:
    """A record as the CDR bytes of its Float64MultiArray (what a bag or the wire holds).

    The layout's bytes come from `_cdr_prefix`, the values are appended: every record is encoded
    once per step of every actor and of bag ingestion, where serializing the whole message
    through rosbags took a fifth of ingest (benchmarks/bench_ingest.py)."""
    layout, data = encode(record)
    return _cdr_prefix(tuple(layout)) + data.astype("<f8").tobytes()


def encode_cdr_columns(columns: dict[str, np.ndarray]) -> list[bytes]:
    """`encode_cdr` of N records given field by field, byte for byte: `columns` maps each
    field of the layout but `version` to its values, [N] or [N, size], or one value for all;
    `stamp` in ns. Bag ingestion encodes every step it aligns, where a StepRecord and an
    `encode` per step took most of the records' time."""
    n = len(columns["obs"])
    dims = (np.shape(columns[name])[1] for name in ("obs", "action", "z"))
    layout = field_sizes(*dims)
    sec, nanosec = np.divmod(np.asarray(columns["stamp"], np.int64), 1_000_000_000)
    values = {**columns, "version": VERSION, "stamp": np.stack([sec, nanosec], axis=-1)}
    # float32 fields widen exactly, as in `encode`; a row is one record in wire order.
    data = np.empty((n, sum(size for _, size in layout)), "<f8")
    at = 0
    for name, size in layout:
        value = np.asarray(values[name], np.float64)
        data[:, at : at + size] = value.reshape(n, size) if value.ndim else value
        at += size
    prefix = _cdr_prefix(tuple(layout))
    return [prefix + row.tobytes() for row in data]


def decode_cdr(raw: bytes | memoryview, source: str = "") -> StepRecord:
    """A record from the CDR bytes of its Float64MultiArray; ValueError if it is not one.

    Every reader of raw records (the replay recorder, its store, bag ingestion) decodes here.
    Bytes that begin with a layout already seen (`_cdr_prefix`) and hold exactly its values are
    read directly; anything else goes through rosbags, which also checks the encoding.
    """
    for prefix, (labels, sizes, length) in _KNOWN.items():
        if len(raw) == length and bytes(raw[: len(prefix)]) == prefix:
            data = np.frombuffer(raw, "<f8", offset=len(prefix))
            return decode(labels, sizes, data, source)
    try:
        msg = typestore().deserialize_cdr(raw, MSGTYPE)
    except SerdeError as err:
        raise ValueError(f"step record: not a Float64MultiArray: {err}") from None
    dims = msg.layout.dim
    labels, sizes = tuple(d.label for d in dims), tuple(d.size for d in dims)
    record = decode(labels, sizes, msg.data, source)
    if len(_KNOWN) < 16:  # a valid record: its layout's next records are read directly
        prefix = _cdr_prefix(tuple(zip(labels, sizes, strict=True)))
        _KNOWN[prefix] = (labels, sizes, len(prefix) + 8 * sum(sizes))
    return record
