"""The one state-sync rule (control/state_sync.py): joint states at any rate and poses with their
own stamps -> at most one state per control period, causally; the bag aligner selects exactly
what a live consumer of the same streams selects."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skill_embedding_ros.control.state_sync import StateSync
from skill_embedding_ros.data.bags.align import AlignConfig, RobotAligner
from skill_embedding_ros.data.bags.reader import BagFile
from skill_embedding_ros.data.bags.robot_messages import decoder
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.testing.bags import TS, write_messages

MS = 1_000_000
P = 100 * MS  # the point-mass suites' control period
TOL = P // 4  # the default tolerance
POSE = (np.zeros(3), np.array([1.0, 0.0, 0.0, 0.0]))


def _js(sync, stamp, **kw):
    return sync.add_joint_state(stamp, {"x": stamp / 1e9}, {"x": 0.0}, **kw)


def _stamps(states):
    return [s.stamp_ns for s in states]


# -- lockstep and control-rate streams -------------------------------------------------------


@pytest.mark.parametrize("pose_first", [False, True])
@pytest.mark.parametrize("tolerance", [None, 0])
def test_lockstep_hands_out_every_state_on_the_message_that_completes_it(pose_first, tolerance):
    sync = StateSync(P, tolerance, ["block"])
    for k in range(30):
        js, pose = _js, lambda sync, stamp: sync.add_pose("block", stamp, POSE)
        first, second = (pose, js) if pose_first else (js, pose)
        assert first(sync, k * P) == []
        [got] = second(sync, k * P)
        assert (got.stamp_ns, got.continuous) == (k * P, k > 0)
        assert got.pose_stamps_ns == {"block": k * P} and got.positions == {"x": k * P / 1e9}
    assert not +sync.counts


def test_a_control_rate_stream_with_jitter_is_taken_state_by_state_at_once():
    rng = np.random.default_rng(3)
    sync = StateSync(P, None)
    stamps = np.arange(200) * P + rng.integers(-TOL // 2, TOL // 2, 200)
    for stamp in stamps:  # a state before its target cannot wait: no nearer one comes in time
        assert _stamps(_js(sync, int(stamp))) == [stamp]
    assert not +sync.counts


# -- fast joint states, slow poses: the property ---------------------------------------------


def _streams(seed: int, seconds: float = 2.0, js_hz: int = 500, pose_hz: int = 30):
    """Arrival-ordered ("js" | "pose", arrival ns, stamp ns) of a jittery joint-state stream
    and a slower camera-like pose stream with its own phase and a longer pipeline delay."""
    rng = np.random.default_rng(seed)
    dt, dp = 10**9 // js_hz, 10**9 // pose_hz
    n, m = int(seconds * js_hz), int(seconds * pose_hz) + 2  # poses on both sides of the states
    js = 10**9 + np.arange(n) * dt + rng.integers(-dt // 5, dt // 5, n)
    poses = 10**9 - rng.integers(0, dp) + np.arange(m) * dp + rng.integers(-MS, MS, m)
    events = [("js", s + rng.integers(100_000, MS), s) for s in js]
    events += [("pose", s + rng.integers(2 * MS, 20 * MS), s) for s in poses]
    events.sort(key=lambda e: e[1])
    return [(kind, int(arrival) // 1000 * 1000, int(stamp)) for kind, arrival, stamp in events]


def _live(events):
    """A live consumer: every message as it arrives; (index of the message, state) handed out."""
    sync = StateSync(P, None, ["block"])
    out = []
    for i, (kind, _, stamp) in enumerate(events):
        if kind == "js":
            got = sync.add_joint_state(stamp, {"x": stamp / 1e9, "y": 0.0}, {"x": 1.0, "y": 0.0})
        else:
            got = sync.add_pose("block", stamp, (np.array([stamp / 1e9, 0.0, 0.0]), POSE[1]))
        out += [(i, s) for s in got]
    return sync, out + [(len(events), s) for s in sync.flush()]


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_a_fast_jittery_stream_and_slow_poses_give_one_state_per_period(seed):
    events = _streams(seed)
    sync, out = _live(events)
    states = [s for _, s in out]
    js = np.array([e[2] for e in events if e[0] == "js"])
    assert abs(len(states) - 20) <= 1 and not sync.counts["gaps"], sync.counts
    assert not sync.counts["states_unmatched"], sync.counts
    assert [s.continuous for s in states] == [False] + [True] * (len(states) - 1)
    assert states[0].stamp_ns == js.min()
    for prev, state in itertools.pairwise(states):
        # The state nearest one period on, of all the stream's states (the earlier of two).
        target = prev.stamp_ns + P
        assert state.stamp_ns == js[np.argmin(np.abs(js - target))]
        assert P - TOL <= state.stamp_ns - prev.stamp_ns <= P + TOL
    for i, state in out:
        # Its pose: within the tolerance, the nearest of those received when it was handed out.
        received = np.array([e[2] for e in events[: i + 1] if e[0] == "pose"])
        (stamp,) = state.pose_stamps_ns.values()
        assert abs(stamp - state.stamp_ns) <= TOL
        assert stamp == received[np.argmin(np.abs(received - state.stamp_ns))]
        assert state.poses["block"][0][0] == stamp / 1e9 and state.positions["x"] == (
            state.stamp_ns / 1e9
        )


def test_joint_order_and_extra_joints_do_not_matter():
    events = [e for e in _streams(7) if e[0] == "js"]
    plain, shuffled = StateSync(P, None), StateSync(P, None)
    rng = np.random.default_rng(0)
    a, b = [], []
    for _, _, stamp in events:
        q = {"x": stamp / 1e9, "y": -stamp / 1e9}
        a += plain.add_joint_state(stamp, q, {"x": 1.0, "y": 2.0})
        names = ["y", "gripper", "x", "wrist"]
        rng.shuffle(names)
        extra = {n: q.get(n, 9.0) for n in names}
        b += shuffled.add_joint_state(stamp, extra, {n: 3.0 for n in names} | {"x": 1.0, "y": 2.0})
    assert _stamps(a) == _stamps(b) and len(a) > 10
    assert all(
        s.positions[j] == t.positions[j] for s, t in zip(a, b, strict=True) for j in ("x", "y")
    )


# -- live and bag select the same states -----------------------------------------------------


def _bag_messages(events, acted):
    """The streams as a bag logs them (log time = arrival), the joint names shuffled with an
    extra joint, and a command right after each state the live consumer was handed."""
    t = TS.types
    rng = np.random.default_rng(1)

    def header(stamp):
        sec, nsec = divmod(stamp, 10**9)
        return t["std_msgs/msg/Header"](
            stamp=t["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec), frame_id="world"
        )

    out = []
    for i, (kind, arrival, stamp) in enumerate(events):
        if kind == "js":
            names = ["y", "x", "gripper"]
            rng.shuffle(names)
            value = {"x": stamp / 1e9, "y": 0.0, "gripper": 7.0}
            speed = {"x": 1.0, "y": 0.0, "gripper": 7.0}
            msg = t["sensor_msgs/msg/JointState"](
                header=header(stamp),
                name=names,
                position=np.array([value[n] for n in names]),
                velocity=np.array([speed[n] for n in names]),
                effort=np.zeros(0),
            )
            out.append(("/actor_0/joint_states", "sensor_msgs/msg/JointState", arrival, msg))
        else:
            point = t["geometry_msgs/msg/Point"](x=stamp / 1e9, y=0.0, z=0.0)
            quat = t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)
            pose = t["geometry_msgs/msg/Pose"](position=point, orientation=quat)
            msg = t["geometry_msgs/msg/PoseStamped"](header=header(stamp), pose=pose)
            out.append(
                ("/actor_0/objects/block/pose", "geometry_msgs/msg/PoseStamped", arrival, msg)
            )
        if i in acted:  # the consumer acts at once: logged a microsecond later
            command = t["std_msgs/msg/Float64MultiArray"](
                layout=t["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0),
                data=np.array([acted[i], 0.0]),
            )
            out.append(
                ("/actor_0/commands", "std_msgs/msg/Float64MultiArray", arrival + 1, command)
            )
    return out


def test_the_bag_aligner_selects_what_a_live_consumer_selects(tmp_path):
    events = _streams(11, seconds=3.0)
    _, live = _live(events)
    acted = {i: (k % 7) / 10 for k, (i, _) in enumerate(live[:-1])}  # not after the last
    write_messages(tmp_path / "bag", _bag_messages(events, acted))
    cfg = AlignConfig(suite=get_suite("push"), tasks=("any",), z_dim=2, task="any")
    aligned = []
    with BagFile(tmp_path / "bag") as bag:
        aligner = RobotAligner(bag.topics, cfg)
        decode = {t: decoder(bag.typestore, m) for t, m in aligner.types.items()}
        for topic, log_ns, data in bag.messages(list(aligner.types)):
            aligned += aligner.feed(topic, log_ns, decode[topic](data))
        aligned += aligner.finish()
    live_stamps = [s.stamp_ns for _, s in live]
    assert len(live_stamps) == 31 and len(aligned) == 1, aligner.counts
    item = aligned[0]
    assert item.stamps_ns.tolist() == live_stamps
    episode = item.episode
    np.testing.assert_array_equal(episode.action[:, 0], np.float32(list(acted.values())))
    # Observation: x, y, their velocities, the block's x, y: the live consumer's joint state
    # (picked by name) and pose.
    want = [[s.positions["x"], 0.0, 1.0, 0.0, s.poses["block"][0][0], 0.0] for _, s in live]
    np.testing.assert_array_equal(episode.obs, np.float32(want))
    assert aligner.counts["resampled"] > 1000 and not aligner.counts["gaps"]


# -- tolerance edges ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("second", "taken", "continuous", "count"),
    [
        (P + TOL, True, True, None),  # as late as the tolerance allows
        (P + TOL + 1, True, False, "gaps"),  # later: a gap, and it starts anew
        (P - TOL, True, True, None),  # as early as allowed (and taken at once)
        (P - TOL - 1, False, None, "resampled"),  # earlier: too early for its period
    ],
)
def test_a_state_is_within_the_tolerance_of_its_target(second, taken, continuous, count):
    sync = StateSync(P, TOL)
    assert _stamps(_js(sync, 0)) == [0]
    got = _js(sync, second)
    assert _stamps(got) == ([second] if taken else [])
    if taken:
        assert got[0].continuous is continuous
    assert dict(+sync.counts) == ({count: 1} if count else {})


@pytest.mark.parametrize(
    ("offset", "matched"), [(TOL, True), (-TOL, True), (TOL + 1, False), (-TOL - 1, False)]
)
def test_a_pose_is_within_the_tolerance_of_its_state(offset, matched):
    sync = StateSync(P, TOL, ["block"])
    before = sync.add_pose("block", P + offset, POSE) if offset < 0 else []
    got = before + _js(sync, P) + (sync.add_pose("block", P + offset, POSE) if offset > 0 else [])
    assert _stamps(got) == ([P] if matched else [])
    # A later pose beyond the tolerance drops the state at once (poses come in stamp order); an
    # earlier one leaves it waiting for a nearer one, until the streams end.
    assert sync.counts["states_unmatched"] == (not matched and offset > 0)
    if not matched:
        assert sync.flush() == [] and sync.counts["states_unmatched"] == 1
        assert sync.notes["states_unmatched"] == (
            f"no pose of block within {TOL / 1e9:g} s of the state at {P} ns"
        )


@pytest.mark.parametrize(
    ("later", "chosen"),
    [(P + 5 * MS, P - 5 * MS), (P + 4 * MS, P + 4 * MS), (P + TOL + 1, P - 5 * MS)],
)
def test_of_the_poses_received_the_nearest_is_taken_the_earlier_on_a_tie(later, chosen):
    sync = StateSync(P, TOL, ["block"])
    for stamp in (P - 2 * TOL, P - TOL - 1, P - 5 * MS, later):
        sync.add_pose("block", stamp, POSE)
    (got,) = _js(sync, P)
    assert got.pose_stamps_ns == {"block": chosen}


@pytest.mark.parametrize(
    ("late", "chosen"), [(P + 10 * MS, P - 10 * MS), (P + 9 * MS, P + 9 * MS)]
)
def test_in_a_fast_stream_the_nearer_of_two_is_taken_the_earlier_on_a_tie(late, chosen):
    sync = StateSync(P, TOL)
    _js(sync, 0)
    assert _js(sync, P // 2) == [] and _js(sync, P - 10 * MS) == []  # before the target: waits
    assert _stamps(_js(sync, late)) == [chosen]
    assert sync.counts["resampled"] == 2  # P / 2 and the one not chosen


def test_a_waiting_state_is_taken_when_the_next_state_lies_beyond_the_tolerance():
    sync = StateSync(P, TOL)  # a stream at twice the control rate, 10 ms early
    assert _stamps(_js(sync, 0)) == [0]
    assert _js(sync, P // 2) == [] and _js(sync, P - 10 * MS) == []
    [got] = _js(sync, P + P // 2 - 10 * MS)
    assert (got.stamp_ns, got.continuous) == (P - 10 * MS, True)
    assert not sync.counts["gaps"]


def test_a_late_pose_is_waited_for_a_missing_one_until_the_next_period():
    sync = StateSync(P, TOL, ["block"])
    assert _js(sync, 0) == []
    for k in range(1, 30):  # a dense stream goes on while the camera's pose is on its way
        assert _js(sync, k * 2 * MS) == []
    [got] = sync.add_pose("block", 5 * MS, POSE)
    assert (got.stamp_ns, got.pose_stamps_ns["block"]) == (0, 5 * MS)
    assert _js(sync, P) == []  # no pose yet
    assert _js(sync, 2 * P) == []  # the next period's state: P's pose never came
    assert sync.counts["states_unmatched"] == 1
    [got] = sync.add_pose("block", 2 * P, POSE)
    assert (got.stamp_ns, got.continuous) == (2 * P, False)  # a state was lost before it


def test_gaps_duplicates_and_out_of_order_are_counted_and_cut_the_sequence():
    sync = StateSync(P, None)
    got = []
    for stamp in (0, P, P, P // 2, 2 * P, 4 * P, 5 * P):
        got += _js(sync, stamp)
    assert _stamps(got) == [0, P, 2 * P, 4 * P, 5 * P]
    assert [s.continuous for s in got] == [False, True, True, False, True]
    assert dict(+sync.counts) == {"duplicates": 1, "out_of_order": 1, "gaps": 1}


def test_a_reset_uses_nothing_before_it_and_reconsiders_what_came_after():
    sync = StateSync(P, None, ["block"])
    got = []
    for k in range(3):  # the consumer ignores what it is handed while its reset is in flight
        got += _js(sync, k * P) + sync.add_pose("block", k * P, POSE)
    assert _js(sync, 2 * P + 10 * MS) == []  # too early for the next period
    assert _stamps(got) == [0, P, 2 * P]
    counts = dict(sync.counts)
    assert counts == {"resampled": 1}
    # The reset's reply names its first state (2 P), which has already arrived.
    [first] = sync.reset(2 * P - 1)
    assert (first.stamp_ns, first.continuous) == (2 * P, False)
    assert dict(sync.counts) == counts  # replayed, not counted again
    [nxt] = _js(sync, 3 * P) + sync.add_pose("block", 3 * P, POSE)
    assert nxt.continuous
    # A reply naming a state still to come: what is stamped at or before it is stale.
    assert sync.reset(10 * P) == []
    assert _js(sync, 10 * P) == [] and sync.add_pose("block", 10 * P, POSE) == []
    assert sync.counts["stale"] == 2
    [got] = sync.add_pose("block", 11 * P, POSE) + _js(sync, 11 * P)
    assert (got.stamp_ns, got.continuous) == (11 * P, False)


def test_the_end_of_the_streams_decides_what_waits():
    sync = StateSync(P, None)
    _js(sync, 0)
    _js(sync, P // 2)
    assert _js(sync, P - 5 * MS) == []
    assert _stamps(sync.flush()) == [P - 5 * MS]


@pytest.mark.parametrize("tolerance", [-1, P, P + 1])
def test_the_tolerance_must_be_less_than_the_period(tolerance):
    with pytest.raises(ValueError, match="tolerance"):
        StateSync(P, tolerance)


def test_a_robot_whose_clock_restarts_is_followed_on_its_new_timeline():
    """A restarted sim bridge or driver counts from 0 again: its states must not be dropped
    as out of order for ever (chaos: a bridge kill stalled the policy until it restarted)."""
    sync = StateSync(P, None, ["block"])
    for k in range(50, 60):  # 5 s into the old timeline
        _js(sync, k * P)
        sync.add_pose("block", k * P, POSE)
    assert sync.add_pose("block", 0, POSE) == []  # the new clock's first pose ...
    [first] = _js(sync, 0)  # ... and its state: a new timeline, not out of order
    assert (first.stamp_ns, first.continuous) == (0, False)
    assert sync.counts["clock_restarts"] == 1 and not sync.counts["out_of_order"]
    sync.add_pose("block", P, POSE)
    assert _stamps(_js(sync, P)) == [P]
    # Told by a caller (a reset naming an older stamp than seen): also within the history.
    sync.new_timeline()
    sync.add_pose("block", P // 2, POSE)
    assert _stamps(_js(sync, P // 2)) == [P // 2]
    assert sync.counts["clock_restarts"] == 2 and not sync.counts["out_of_order"]
