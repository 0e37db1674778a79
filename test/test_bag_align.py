"""Ingestion of robot topics only (joint_states, object poses, commands): transitions by time
alignment, rewards recomputed by the task's reward function, behaviour probabilities stored as
unknown, z named by q_psi when a checkpoint is given; and every kind of bad input counted."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from mcap_ros2.writer import Writer as McapRos2Writer
from rosbags.interfaces import Nodetype
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.data import replay_store as rs
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.bags.align import AlignConfig
from skill_embedding_ros.data.bags.ingest import IngestOptions, ingest
from skill_embedding_ros.data.bags.label import checkpoint_labeller, history_windows, infer_z
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.tasks.point_mass.demos import reach_goal
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.testing.bags import (
    TS,
    expected_episodes,
    robot_demos,
    robot_messages,
    write_messages,
)
from skill_embedding_ros.testing.episodes import assert_same_episode

TASKS = ("any", "goal_0", "goal_1", "goal_2", "goal_3")
TS1 = get_typestore(Stores.ROS1_NOETIC)


def _align(suite, **kw) -> AlignConfig:
    return AlignConfig(suite=suite, tasks=TASKS, z_dim=2, **{"task": "goal_1", **kw})


def _run(tmp_path, messages, align, storage="mcap", **kw):
    bag = tmp_path / f"bag_{len(list(tmp_path.iterdir()))}"
    write_messages(bag, messages, storage)
    code, [summary] = ingest(
        [bag], tmp_path / "store", IngestOptions(align=align, **kw), report=lambda s: None
    )
    return code, summary, rs.StoreReader(tmp_path / "store").new_episodes()


@pytest.mark.parametrize(("suite_name", "storage"), [("reach", "sqlite3"), ("push", "mcap")])
def test_robot_topics_rebuild_the_episodes(tmp_path, suite_name, storage):
    suite = get_suite(suite_name)
    demos = robot_demos(suite, 3, reach_goal(suite, 1))
    code, s, got = _run(tmp_path, robot_messages(suite, demos), _align(suite), storage)
    assert code == 0 and s.kind == "robot", s.text()
    want = expected_episodes(suite, demos, "goal_1", TASKS.index("goal_1"))
    assert len(got) == 3
    for g, w in zip(got, want, strict=True):
        assert_same_episode(g, w)  # obs, actions (clipped), rewards r(s'), NaN log b, intervention
    assert sum(e.reward.sum() for e in got) > 0  # the demonstrator reaches its goal
    assert (s.duplicates, s.gaps, s.non_finite, s.out_of_order) == (1, 0, 0, 0), s.text()
    assert s.counts["safety_stops"] == 4  # the gate's stops between episodes cut them

    # What the store holds says where the actions came from: a demonstration, not a policy's
    # mean action (both have no behaviour log-probability).
    with Reader(rs.list_chunks(tmp_path / "store")[0].path) as chunk:
        records = [sr.decode_cdr(bytes(raw), "") for _, _, raw in chunk.messages()]
    steps = [r for r in records if not r.last]
    assert len(steps) == sum(len(e) for e in got)
    assert all(r.flags & sr.DEMONSTRATION and not r.flags & sr.EVALUATION for r in steps)


def test_task_from_a_topic_remapped_names_and_a_faster_joint_state_stream(tmp_path):
    suite = get_suite("push")
    demos = robot_demos(suite, 2, reach_goal(suite, 2), seed=1)
    messages = robot_messages(suite, demos, namespace="/ns")
    names = {
        "/ns/joint_states": "/arm/joint_states",
        "/ns/commands": "/arm/forward_velocity_controller/commands",
        "/ns/objects/block/pose": "/mocap/block",
    }
    renamed, period = [], round(suite.control_period * 1e9)
    for topic, msgtype, log, msg in messages:
        renamed.append((names[topic], msgtype, log, msg))
        if topic.endswith("joint_states"):  # three more states in each period, 25 ms apart
            for k in (1, 2, 3):
                extra = copy.deepcopy(msg)
                t = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec + k * period // 4
                extra.header.stamp.sec, extra.header.stamp.nanosec = divmod(t, 10**9)
                renamed.append((names[topic], msgtype, log + k, extra))

    # The task: goal_2 for the first episode, goal_3 from the second on (set just before the
    # reset state of each: stamps 1 and 2 + 60 periods).
    def first_state_at(ticks):
        return next(
            i
            for i, (t, _, _, m) in enumerate(renamed)
            if t.endswith("joint_states")
            and m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == ticks * period
        )

    first_reset, second = first_state_at(1), first_state_at(2 + suite.episode_steps)
    string = TS.types["std_msgs/msg/String"]
    for index, task in ((second, "goal_3"), (first_reset, "goal_2")):
        log = renamed[index][2] - 1
        renamed.insert(index, ("/task", "std_msgs/msg/String", log, string(data=task)))
    align = _align(
        suite, task=None, task_topic="/task", remap={k[4:]: v for k, v in names.items()}
    )
    code, s, got = _run(tmp_path, renamed, align)
    assert code == 0, s.text()
    assert [e.task for e in got] == [TASKS.index("goal_2"), TASKS.index("goal_3")]
    want = expected_episodes(suite, demos, "any", 0)
    for g, w, task in zip(got, want, ("goal_2", "goal_3"), strict=True):
        np.testing.assert_array_equal(g.obs, w.obs)
        np.testing.assert_array_equal(g.action, w.action)
        np.testing.assert_array_equal(g.reward, get_reward(suite, task, w.obs[1:]))
    # Every extra state is skipped (those of the repeated startup state are out of order), but
    # the very last: 75 ms after the last state, within the tolerance of a period, it ends the
    # bag as a state of its own.
    assert s.counts["resampled"] == 3 * (1 + 2 * 61) - 1 and s.out_of_order == 3, s.text()


def get_reward(suite, task, obs):
    return suite.reward(task, obs)


def test_pose_stamps_match_within_the_tolerance_only(tmp_path):
    suite = get_suite("push")
    demos = robot_demos(suite, 1, reach_goal(suite, 0))
    messages = robot_messages(suite, demos)
    for _, msgtype, _, msg in messages:  # the mocap clock runs 10 ms behind the joints'
        if msgtype.startswith("geometry_msgs"):
            t = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec + 10**7
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t, 10**9)
    code, s, got = _run(tmp_path, messages, _align(suite))  # tolerance 25 ms: matched
    assert code == 0 and len(got) == 1 and len(got[0]) == suite.episode_steps, s.text()
    code, s, got = _run(tmp_path, messages, _align(suite, tolerance=0.005), force=True)
    assert code == 1 and s.status == "nothing usable", s.text()
    assert s.counts["states_unmatched"] > 0 and "no pose of block within 0.005 s" in s.error


# 1e300 is finite as float64 but not as the float32 of an observation (a flipped exponent bit)
@pytest.mark.parametrize("bad_reading", [np.nan, 1e300])
def test_bad_states_and_commands_are_counted_and_cut_the_segments(tmp_path, bad_reading):
    suite = get_suite("reach")
    demos = robot_demos(suite, 2, reach_goal(suite, 3))
    messages = robot_messages(suite, demos)
    states = [i for i, m in enumerate(messages) if m[0].endswith("joint_states")]
    commands = [i for i, m in enumerate(messages) if m[1].endswith("MultiArray")]
    # states: 2 startup copies, then per episode s_0..s_50; commands: a stop, then per episode
    # a_0..a_49 and a stop
    ep0, ep1 = 2, 2 + 51
    messages[states[ep0 + 10]][3].position[0] = bad_reading
    late = copy.deepcopy(messages[states[ep1 + 5]])
    repeat = copy.deepcopy(messages[states[ep1 + 20]])
    messages.append((*repeat[:2], repeat[2] + 1, repeat[3]))  # (the bag sorts by log time)
    messages.append((*late[:2], messages[states[ep1 + 8]][2] - 1, late[3]))
    messages[commands[1 + 51 + 40]][3].data[1] = np.inf  # a non-finite command a_40
    del messages[states[ep0 + 30]]  # a lost state
    code, s, got = _run(tmp_path, messages, _align(suite))
    assert code == 0, s.text()
    assert (s.non_finite, s.duplicates, s.out_of_order, s.gaps) == (2, 2, 1, 1), s.text()
    # episode 0: s_0..s_9 | s_11..s_29 | s_31..s_50; episode 1: s_0..s_40 | s_41..s_50
    assert [len(e) for e in got] == [9, 18, 19, 40, 9], s.text()
    assert all(np.isfinite(e.obs).all() and np.isfinite(e.action).all() for e in got)


def test_missing_topics_wrong_types_and_wrong_joints_are_reported(tmp_path):
    suite = get_suite("push")
    messages = robot_messages(suite, robot_demos(suite, 1, reach_goal(suite, 0)))
    no_pose = [m for m in messages if "pose" not in m[0]]
    code, s, _ = _run(tmp_path, no_pose, _align(suite))
    assert code == 1 and s.status == "unreadable"
    assert "missing topic /actor_0/objects/block/pose (geometry_msgs/msg/PoseStamped)" in s.error

    point = TS.types["geometry_msgs/msg/PointStamped"]
    wrong = [
        (t, "geometry_msgs/msg/PointStamped", log, point(header=m.header, point=m.pose.position))
        if "pose" in t
        else (t, ty, log, m)
        for t, ty, log, m in messages
    ]
    code, s, _ = _run(tmp_path, wrong, _align(suite))
    assert code == 1 and "has type geometry_msgs/msg/PointStamped, expected" in s.error

    for _, msgtype, _, msg in messages:
        if msgtype.endswith("JointState"):
            msg.name = ["joint_1", "joint_2"]
    code, s, _ = _run(tmp_path, messages, _align(suite))
    assert code == 1 and s.status == "nothing usable"
    assert "lacks position or velocity of ['x', 'y']" in s.error

    with pytest.raises(ValueError, match="not one of the run"):
        _align(suite, task="goal_9")


def test_an_independent_writer_robot_bag_aligns(tmp_path):
    """Robot topics from mcap-ros2-support (its own serializer), as another team's logs."""
    suite = get_suite("push")
    demos = robot_demos(suite, 2, reach_goal(suite, 0), seed=4)
    path = tmp_path / "their_logs.mcap"
    with open(path, "wb") as f:
        writer = McapRos2Writer(f)
        schemas = {}
        for topic, msgtype, log, msg in robot_messages(suite, demos):
            if msgtype not in schemas:
                msgdef, _ = TS.generate_msgdef(msgtype, ros_version=2)
                schemas[msgtype] = writer.register_msgdef(msgtype, msgdef)
            writer.write_message(topic, schemas[msgtype], _as_dict(msg), log_time=log)
        writer.finish()
    code, [s] = ingest([path], tmp_path / "store", IngestOptions(align=_align(suite)))
    assert code == 0, s.text()
    got = rs.StoreReader(tmp_path / "store").new_episodes()
    for g, w in zip(got, expected_episodes(suite, demos, "goal_1", 2), strict=True):
        assert_same_episode(g, w)


def test_a_ros1_robot_bag_aligns(tmp_path):
    """A ROS 1 bag's robot topics (its headers carry a `seq`, so their bytes are read through
    rosbags, not data/bags/robot_messages.py's ROS 2 layout) give the same episodes."""
    suite = get_suite("push")
    demos = robot_demos(suite, 2, reach_goal(suite, 0), seed=5)
    path = tmp_path / "old.bag"
    with Ros1Writer(path) as bag:
        conns = {}
        for topic, msgtype, log, msg in robot_messages(suite, demos):
            if topic not in conns:
                msgdef, md5 = TS1.generate_msgdef(msgtype, ros_version=1)
                conns[topic] = bag.add_connection(topic, msgtype, msgdef=msgdef, md5sum=md5)
            bag.write(conns[topic], log, bytes(TS1.serialize_ros1(_ros1(msg, msgtype), msgtype)))
    code, [s] = ingest([path], tmp_path / "store", IngestOptions(align=_align(suite)))
    assert code == 0, s.text()
    got = rs.StoreReader(tmp_path / "store").new_episodes()
    for g, w in zip(got, expected_episodes(suite, demos, "goal_1", 2), strict=True):
        assert_same_episode(g, w)


def _ros1(msg, typename: str):
    """A ROS 2 message object as its ROS 1 twin (a header's `seq` added)."""
    fields = {}
    for name, (kind, arg) in TS1.fielddefs[typename][1]:
        value = 7 if name == "seq" else getattr(msg, name)
        if kind == Nodetype.NAME:
            value = _ros1(value, arg)
        elif kind == Nodetype.SEQUENCE and arg[0][0] == Nodetype.NAME:
            value = [_ros1(v, arg[0][1]) for v in value]
        fields[name] = value
    return TS1.types[typename](**fields)


def _as_dict(msg):
    if hasattr(msg, "__dataclass_fields__"):
        return {k: _as_dict(getattr(msg, k)) for k in msg.__dataclass_fields__}
    if isinstance(msg, np.ndarray):
        return msg.tolist()
    if isinstance(msg, list):
        return [_as_dict(m) for m in msg]
    return msg


@pytest.mark.parametrize("family", ["gaussian", "bernoulli"])
def test_z_is_the_one_q_psi_finds_most_likely(family):
    cfg = load_run_config(None, (f"agent.embedding={family}", "agent.z_dim=3"))
    nets = build_networks(cfg)
    suite = get_suite(cfg.train.suite)
    demo = expected_episodes(
        suite, robot_demos(suite, 1, reach_goal(suite, 2)), "any", 0, z_dim=3
    )[0]
    z = infer_z(nets.inference, nets.latent, cfg.agent.history, demo)
    windows = [torch.as_tensor(x) for x in history_windows(demo, cfg.agent.history)]
    params = nets.inference(*windows).detach()

    def total(candidate):
        zs = torch.as_tensor(candidate, dtype=torch.float32).expand(len(demo), -1)
        return nets.latent.log_prob(params, zs).sum().item()

    rng = np.random.default_rng(0)
    if family == "bernoulli":
        codes = [np.array([(c >> i) & 1 for i in range(3)], np.float32) for c in range(8)]
        assert total(z) == max(total(c) for c in codes)
    else:
        assert all(total(z) >= total(z + rng.normal(0, 0.05, 3)) for _ in range(20))
    # Windows as the replay builds them: step k sees steps k-H+1..k, zero-padded at the start.
    obs, _, valid = history_windows(demo, cfg.agent.history)
    np.testing.assert_array_equal(obs[5, -1], demo.obs[5])
    assert valid[0].tolist() == [0] * (cfg.agent.history - 1) + [1]


def test_a_checkpoint_labels_each_episode(tmp_path):
    suite = get_suite("reach")
    cfg = load_run_config(None, ("agent.embedding=gaussian",))
    nets = build_networks(cfg)
    label = checkpoint_labeller(nets, suite)
    demos = robot_demos(suite, 2, reach_goal(suite, 0)) + robot_demos(
        suite, 2, reach_goal(suite, 2)
    )
    code, s, got = _run(tmp_path, robot_messages(suite, demos), _align(suite), label=label)
    assert code == 0 and len(got) == 4, s.text()
    for episode in got:
        want = infer_z(nets.inference, nets.latent, cfg.agent.history, episode)
        np.testing.assert_allclose(episode.z, np.broadcast_to(want, episode.z.shape), atol=1e-6)
    assert not np.allclose(got[0].z[0], got[3].z[0])  # different trajectories, different z


def test_the_graphs_task_topic_is_read_by_default(tmp_path):
    """Given neither a task nor a task topic, each source's own `task` topic (what the skill
    policy publishes before each reset: topic_names.TASK) names the task; without it the
    error says how to give one."""
    suite = get_suite("push")
    demos = robot_demos(suite, 2, reach_goal(suite, 2), seed=1)
    messages = robot_messages(suite, demos, namespace="/actor_0")
    period = round(suite.control_period * 1e9)
    string = TS.types["std_msgs/msg/String"]
    for ticks, task in ((2 + suite.episode_steps, "goal_3"), (1, "goal_2")):
        index = next(
            i
            for i, (t, _, _, m) in enumerate(messages)
            if t.endswith("joint_states")
            and m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == ticks * period
        )
        log = messages[index][2] - 1
        messages.insert(index, ("/actor_0/task", "std_msgs/msg/String", log, string(data=task)))
    code, s, got = _run(tmp_path, messages, _align(suite, task=None))
    assert code == 0, s.text()
    assert [e.task for e in got] == [TASKS.index("goal_2"), TASKS.index("goal_3")]

    bare = [m for m in messages if not m[0].endswith("/task")]
    code, s, got = _run(tmp_path, bare, _align(suite, task=None), force=True)
    assert code != 0 and "/actor_0/task" in s.error and "--task NAME" in s.error, s.text()
