"""Bags for the ingestion tests (and the demonstration experiment): record bags from episodes,
and robot-topic bags of a scripted controller driving any suite's MuJoCo scene as a lockstep
bridge and a safety gate would show it (joint_states, object poses, commands), with the episodes
a perfect ingester must rebuild from them."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin

from skill_embedding_ros.control.joint_limits import commanded_limits
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.assembly import episode_records
from skill_embedding_ros.data.replay import Episode, demonstration
from skill_embedding_ros.tasks.suite import Scene, TaskSuite
from skill_embedding_ros.topic_names import TASK

TS = sr.typestore()
MS = 1_000_000


def write_record_bag(
    path: Path, episodes: list[Episode], storage="mcap", actors: int = 2, compress=False
) -> None:
    """Episode i on /actor_{i % actors}/step_records, actors interleaved step by step."""
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    streams: list[list[bytes]] = [[] for _ in range(actors)]
    for i, episode in enumerate(episodes):
        stamps = np.arange(len(episode) + 1) * 10**8 + i * 10**10
        records = episode_records(episode, f"/actor_{i % actors}", i, stamps)
        streams[i % actors] += [sr.encode_cdr(r) for r in records]
    bag = Writer(path, version=9, storage_plugin=plugin)
    if compress:
        bag.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with bag:
        conns = [
            bag.add_connection(f"/actor_{a}/step_records", sr.MSGTYPE, typestore=TS)
            for a in range(actors)
        ]
        t = 10**9
        for k in range(max(map(len, streams))):
            for a, stream in enumerate(streams):
                if k < len(stream):
                    t += MS
                    bag.write(conns[a], t, stream[k])


def robot_demos(
    suite: TaskSuite, episodes: int, controller, seed: int = 0, task: str | None = None
):
    """Drive the suite's scene, reset for `task`, with a scripted `controller(obs, rng) ->
    command` (physical units): per episode the states (q, v, object poses, observation) and the
    commands sent (unclipped: the ingester clips)."""
    scene = suite.make_scene()
    observer = suite.observer()
    period = round(suite.control_period * 1e9)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(episodes):
        scene.reset(rng, task)
        observer.reset()
        states, commands = [_state(scene, observer, 0)], []
        for k in range(suite.episode_steps):
            command = controller(states[-1][3], rng)
            scene.step(command)
            commands.append(command)
            states.append(_state(scene, observer, (k + 1) * period))
        out.append((states, commands))
    return out


def _state(scene: Scene, observer, stamp: int):
    q, v = scene.joint_positions(), scene.joint_velocities()
    poses = {o: (pos.copy(), quat.copy()) for o, (pos, quat) in scene.object_poses().items()}
    return q, v, poses, observer(q, v, poses, stamp)


def expected_episodes(suite: TaskSuite, demos, task: str, task_id: int, z_dim: int = 2):
    """What a perfect ingester makes of `robot_demos` output."""
    _, limits = commanded_limits(suite.description(), suite.joints)
    speed = np.array([lim.velocity for lim in limits])
    out = []
    for states, commands in demos:
        obs = np.stack([s[3] for s in states]).astype(np.float32)
        action = suite.action(np.clip(np.stack(commands), -speed, speed))
        out.append(demonstration(obs, action, suite.reward(task, obs[1:]), task_id, z_dim))
    return out


def robot_messages(
    suite: TaskSuite, demos, namespace: str = "/actor_0", stop_between=True, tasks=None
):
    """(topic, msgtype, log time, message) as a lockstep graph's bag holds them: per episode
    a reset state (time advances one period), then command -> next state; the gate's own
    stops while the policy waits between episodes; the bridge's startup state repeated.
    `tasks` (one name per episode): the skill policy's `task` topic, published before each
    episode's reset, as the graph does (topic_names.TASK)."""
    t = TS.types
    period = round(suite.control_period * 1e9)
    ticks, log = 0, 10**9
    out = []

    def emit(topic, msgtype, msg):
        nonlocal log
        log += MS
        out.append((f"{namespace}/{topic}", msgtype, log, msg))

    def state(s):
        q, v, poses, _ = s
        sec, nsec = divmod(ticks * period, 10**9)
        header = t["std_msgs/msg/Header"](
            stamp=t["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec), frame_id="world"
        )
        js = t["sensor_msgs/msg/JointState"](
            header=header,
            name=list(suite.joints),
            position=np.array([q[j] for j in suite.joints]),
            velocity=np.array([v[j] for j in suite.joints]),
            effort=np.zeros(0),
        )
        emit("joint_states", "sensor_msgs/msg/JointState", js)
        for o, (pos, quat) in poses.items():
            w, x, y, z = (float(c) for c in quat)
            pose = t["geometry_msgs/msg/Pose"](
                position=t["geometry_msgs/msg/Point"](x=pos[0], y=pos[1], z=pos[2]),
                orientation=t["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w),
            )
            stamped = t["geometry_msgs/msg/PoseStamped"](header=copy.deepcopy(header), pose=pose)
            emit(f"objects/{o}/pose", "geometry_msgs/msg/PoseStamped", stamped)

    def command(values, label=""):
        dims = [t["std_msgs/msg/MultiArrayDimension"](label=label, size=len(values), stride=0)]
        msg = t["std_msgs/msg/Float64MultiArray"](
            layout=t["std_msgs/msg/MultiArrayLayout"](dim=dims if label else [], data_offset=0),
            data=np.asarray(values, np.float64),
        )
        emit("commands", "std_msgs/msg/Float64MultiArray", msg)

    # the startup state, repeated until the policy's first reset
    first = demos[0][0][0]
    state(first)
    state(first)
    command(np.zeros(suite.action_dim), "safety_stop")
    for i, (states, commands) in enumerate(demos):
        if tasks is not None:
            emit(TASK, "std_msgs/msg/String", t["std_msgs/msg/String"](data=tasks[i]))
        ticks += 1  # a reset advances one period, with no command
        state(states[0])
        for k, values in enumerate(commands):
            command(values)
            ticks += 1
            state(states[k + 1])
        if stop_between:
            command(np.zeros(suite.action_dim), "safety_stop")
    return out


def write_messages(path: Path, messages, storage="mcap") -> None:
    """Write (topic, msgtype, log time, message) tuples with rosbags."""
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as bag:
        conns = {}
        for topic, msgtype, log, msg in messages:
            if topic not in conns:
                conns[topic] = bag.add_connection(topic, msgtype, typestore=TS)
            bag.write(conns[topic], log, TS.serialize_cdr(msg, msgtype))
