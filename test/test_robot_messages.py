"""The robot topics' own CDR decoders (data/bags/robot_messages.py) against rosbags': the same
fields from every message rosbags writes, in both byte orders, and the same verdict (the same
fields, or ValueError) on mutated, truncated and padded bytes; other definitions go through
rosbags."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rosbags.typesys import Stores, get_typestore

from skill_embedding_ros.data.bags import robot_messages as rm
from skill_embedding_ros.testing.bags import TS

T = TS.types
TS1 = get_typestore(Stores.ROS1_NOETIC)  # a std_msgs/Header with `seq`: another layout

text = st.text(max_size=6)
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
arrays = st.lists(floats, max_size=5).map(lambda v: np.array(v, np.float64))


def header(sec, nanosec, frame):
    stamp = T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)
    return T["std_msgs/msg/Header"](stamp=stamp, frame_id=frame)


headers = st.builds(header, st.integers(-(2**31), 2**31 - 1), st.integers(0, 2**32 - 1), text)


def joint_state(h, names, position, velocity, effort):
    return T[rm.JOINT_STATE](
        header=h, name=names, position=position, velocity=velocity, effort=effort
    )


def float64_array(labels, data):
    dim = T["std_msgs/msg/MultiArrayDimension"]
    dims = [dim(label=label, size=k, stride=2 * k) for k, label in enumerate(labels)]
    layout = T["std_msgs/msg/MultiArrayLayout"](dim=dims, data_offset=len(labels))
    return T[rm.FLOAT64_ARRAY](layout=layout, data=data)


def pose_stamped(h, v):
    point = T["geometry_msgs/msg/Point"](x=v[0], y=v[1], z=v[2])
    quat = T["geometry_msgs/msg/Quaternion"](x=v[3], y=v[4], z=v[5], w=v[6])
    return T[rm.POSE_STAMPED](header=h, pose=T["geometry_msgs/msg/Pose"](point, quat))


messages = st.one_of(
    st.tuples(
        st.just(rm.JOINT_STATE),
        st.builds(joint_state, headers, st.lists(text, max_size=4), arrays, arrays, arrays),
    ),
    st.tuples(
        st.just(rm.FLOAT64_ARRAY), st.builds(float64_array, st.lists(text, max_size=3), arrays)
    ),
    st.tuples(
        st.just(rm.POSE_STAMPED),
        st.builds(pose_stamped, headers, st.lists(floats, min_size=7, max_size=7)),
    ),
    st.tuples(st.just(rm.STRING), st.builds(lambda s: T[rm.STRING](data=s), text)),
)


def verdict(msgtype: str, raw: bytes, **kw):
    """The decoded fields (repr: NaN equals NaN, -0.0 differs from 0.0), or that it failed."""
    try:
        return repr(rm.decoder(TS, msgtype, **kw)(raw))
    except ValueError:
        return "ValueError"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=messages, little=st.booleans())
def test_every_message_decodes_as_rosbags_decodes_it(message, little):
    msgtype, msg = message
    raw = bytes(TS.serialize_cdr(msg, msgtype, little_endian=little))
    fast = verdict(msgtype, raw)
    assert fast != "ValueError"
    assert fast == verdict(msgtype, raw, through_rosbags=True)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=messages, data=st.data())
def test_damaged_bytes_get_the_verdict_rosbags_gives(message, data):
    msgtype, msg = message
    raw = bytearray(TS.serialize_cdr(msg, msgtype))
    kind = data.draw(st.sampled_from(["flip", "cut", "pad", "header"]))
    if kind == "flip":  # any byte, e.g. a length or a count
        for _ in range(data.draw(st.integers(1, 3))):
            at = data.draw(st.integers(0, len(raw) - 1))
            raw[at] = data.draw(st.integers(0, 255))
    elif kind == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif kind == "pad":
        raw += bytes(data.draw(st.integers(1, 12)))
    else:
        raw[data.draw(st.integers(0, 1))] = data.draw(st.integers(0, 255))
    raw = bytes(raw)
    assert verdict(msgtype, raw) == verdict(msgtype, raw, through_rosbags=True)


def test_another_definition_of_the_type_is_read_through_rosbags():
    """CDR bytes of a JointState whose header has a `seq` (the bag says so): the fast path
    would read `seq` as the stamp's seconds; the decoder sees the definition and does not."""
    h1 = TS1.types["std_msgs/msg/Header"](
        seq=99, stamp=TS1.types["builtin_interfaces/msg/Time"](sec=3, nanosec=5), frame_id="w"
    )
    msg = TS1.types[rm.JOINT_STATE](
        header=h1, name=["x"], position=np.ones(1), velocity=np.zeros(1), effort=np.zeros(0)
    )
    raw = bytes(TS1.serialize_cdr(msg, rm.JOINT_STATE))
    got = rm.decoder(TS1, rm.JOINT_STATE)(raw)
    assert got == rm.JointStateFields(3_000_000_005, ("x",), (1.0,), (0.0,))
    assert verdict(rm.JOINT_STATE, raw) != repr(got)  # the layouts do differ


def test_malformed_bytes_say_which_type():
    with pytest.raises(ValueError, match="malformed sensor_msgs/msg/JointState"):
        rm.decoder(TS, rm.JOINT_STATE)(b"\x00\x01\x00\x00\x01")
    with pytest.raises(ValueError, match="no robot-message decoder"):
        rm.decoder(TS, "sensor_msgs/msg/Image")


def test_a_count_beyond_the_bytes_is_refused_before_reading():
    raw = bytearray(TS.serialize_cdr(float64_array([], np.ones(2)), rm.FLOAT64_ARRAY))
    raw[4 + 8 : 4 + 12] = (2**31).to_bytes(4, "little")  # data's count, after dim and offset
    with pytest.raises(ValueError, match="invalid sequence length 2147483648"):
        rm.decoder(TS, rm.FLOAT64_ARRAY)(bytes(raw))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_one_decoder_reading_a_stream_answers_each_message_as_rosbags(data):
    """A JointState decoder remembers the last names it read: through a stream of the same and
    other names, damaged or not, each answer is still rosbags' for that message alone."""
    decode = rm.decoder(TS, rm.JOINT_STATE)
    names = data.draw(st.lists(st.lists(text, max_size=3), min_size=1, max_size=3))
    for _ in range(data.draw(st.integers(1, 12))):
        which = data.draw(st.sampled_from(names))
        values = np.arange(len(which), dtype=np.float64)
        msg = joint_state(header(1, 2, "w"), which, values, values, values[:0])
        raw = bytearray(TS.serialize_cdr(msg, rm.JOINT_STATE))
        if data.draw(st.booleans()):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        try:
            got = repr(decode(bytes(raw)))
        except ValueError:
            got = "ValueError"
        assert got == verdict(rm.JOINT_STATE, bytes(raw), through_rosbags=True)
