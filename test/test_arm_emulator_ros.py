"""The arm emulator (ros/arm_emulator.py) as its own process over real DDS, driven from a probe
node as a driver would drive a ros2_control arm: joint_states at 500 Hz in the vendor's order,
velocity commands, a homing trajectory, the protective stop and /robot_description; the objects'
poses with the joint states' very stamps, the scene reset, and the camera's pictures, where the
ArUco locator finds the block where the motion capture has it (skipped without OSMesa, unless
SKILL_EMBEDDING_RENDER_TESTS=required, as test_aruco.py)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import PoseStamped
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from skill_embedding_ros.perception.aruco import ArucoLocator
from skill_embedding_ros.perception.camera import DEFAULT_POSE, intrinsics_from_fields
from skill_embedding_ros.perception.image import gray
from skill_embedding_ros.robots.ros2_control import (
    JOINT_STATES,
    ROBOT_DESCRIPTION,
    commands_topic,
    load_robot,
    trajectory_topic,
)
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import stamp_ns
from skill_embedding_ros.ros.processes import Probe, fresh_domain, log_text, start_node, stop
from skill_embedding_ros.tasks.jaco.props import BLOCK_HALF

RATE = 500.0  # Hz
WAIT = 20.0  # s; generous, the machine is shared
ROBOT = load_robot("jaco")
MODEL = ROBOT.model()  # vendor -> model name
OBJECTS = ("block", "goal")
MOCAP = "/mocap/objects/{name}/pose"  # under the emulator's default object_namespace
DEEP = QoSProfile(depth=5000, reliability=ReliabilityPolicy.RELIABLE)
"""Counted streams are taken raw, deep: a probe busy deserializing on a loaded machine would
otherwise lose messages from a depth-10 history and count its own slowness as the emulator's."""


class Emulator:
    """The emulator process and the probe's view of it."""

    def __init__(self, tmp_path: Path, **params):
        self.domain = fresh_domain()
        self.proc = start_node(
            "arm_emulator", self.domain, tmp_path, params={"rate": RATE, "seed": 3, **params}
        )
        self.probe = probe = Probe(self.domain)
        node = probe.node
        self.states: list[JointState] = []
        node.create_subscription(JointState, JOINT_STATES, self.states.append, topics.RELIABLE)
        self.raw: list[bytes] = []
        node.create_subscription(JointState, JOINT_STATES, self.raw.append, DEEP, raw=True)
        self.poses: dict[str, list[bytes]] = {name: [] for name in OBJECTS}
        for name, got in self.poses.items():
            topic = MOCAP.format(name=name)
            node.create_subscription(PoseStamped, topic, got.append, DEEP, raw=True)
        self.descriptions: list[String] = []
        node.create_subscription(
            String, ROBOT_DESCRIPTION, self.descriptions.append, topics.LATCHED
        )
        self.commands = node.create_publisher(
            Float64MultiArray, commands_topic(ROBOT.velocity.name), topics.RELIABLE
        )
        self.trajectories = node.create_publisher(
            JointTrajectory, trajectory_topic(ROBOT.trajectory.name), topics.RELIABLE
        )
        self.stop_client = node.create_client(SetBool, "/arm_emulator/protective_stop")
        self.reset_client = node.create_client(Trigger, "/arm_emulator/reset_scene")
        try:
            probe.spin_until(lambda: len(self.states) > 10, WAIT, "the emulator's joint_states")
            probe.spin_until(
                lambda: (
                    self.commands.get_subscription_count() > 0
                    and self.trajectories.get_subscription_count() > 0
                ),
                WAIT,
                "the emulator's command and trajectory subscriptions",
            )
        except AssertionError as err:
            stop(self.proc)
            probe.close()
            raise AssertionError(f"{err}\n{log_text(self.proc)}") from None

    def latest(self) -> dict[str, tuple[float, float]]:
        """Model joint name -> (position, velocity) of the newest state."""
        msg = self.states[-1]
        return {
            MODEL[n]: (p, v) for n, p, v in zip(msg.name, msg.position, msg.velocity, strict=True)
        }

    def positions(self) -> dict[str, float]:
        return {j: p for j, (p, _) in self.latest().items()}

    def speeds(self) -> dict[str, float]:
        return {j: abs(v) for j, (_, v) in self.latest().items()}

    def command(self, **velocities: float) -> None:
        """A velocity command, values in the controller's vendor order, by model name."""
        data = [float(velocities.get(MODEL[v], 0.0)) for v in ROBOT.velocity.joints]
        self.commands.publish(Float64MultiArray(data=data))

    def protective_stop(self, on: bool) -> SetBool.Response:
        assert self.stop_client.wait_for_service(timeout_sec=WAIT), "no protective_stop service"
        future = self.stop_client.call_async(SetBool.Request(data=on))
        self.probe.spin_until(future.done, WAIT, "the protective_stop response")
        return future.result()

    def reset_scene(self) -> Trigger.Response:
        assert self.reset_client.wait_for_service(timeout_sec=WAIT), "no reset_scene service"
        future = self.reset_client.call_async(Trigger.Request())
        self.probe.spin_until(future.done, WAIT, "the reset_scene response")
        return future.result()

    def pose(self, name: str, index: int = -1) -> PoseStamped:
        return deserialize_message(self.poses[name][index], PoseStamped)

    def settle(self, seconds: float) -> dict[str, float]:  # the positions after `seconds`
        self.probe.spin_for(seconds)
        return self.positions()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    e = Emulator(tmp_path_factory.mktemp("arm_emulator"))
    yield e
    code = stop(e.proc)
    e.probe.close()
    assert code == 0, f"emulator exit code {code}\n{log_text(e.proc)}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (s), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime, stime in clock ticks (USER_HZ)


def measure_rate(e: Emulator, seconds: float, what: str, floor=0.5) -> tuple[float, list]:
    """joint_states' rate (Hz) over `seconds`, printed with the emulator's CPU share and the
    stamps' gaps, and checked: sampled on its period, `floor` x RATE at least arriving."""
    first, cpu = len(e.raw), cpu_seconds(e.proc.pid)
    start = time.monotonic()
    e.probe.spin_for(seconds)
    elapsed = time.monotonic() - start
    rate = (len(e.raw) - first) / elapsed
    share = (cpu_seconds(e.proc.pid) - cpu) / elapsed
    window = [deserialize_message(b, JointState) for b in e.raw[first:]]
    gaps = np.diff([stamp_ns(m.header.stamp) for m in window]) * 1e-6
    print(
        f"\n{what}: joint_states at {rate:.1f} Hz (asked {RATE:g}); emulator CPU "
        f"{100 * share:.0f}%; stamp gaps median {np.median(gaps):.2f} ms, 99th percentile "
        f"{np.percentile(gaps, 99):.2f} ms, max {gaps.max():.2f} ms"
    )
    # The period shows in the median gap, a stall of the machine only in the tail; rclpy skips
    # a timer tick late by a period, so what arrives has a generous floor (a loaded 2-core
    # machine: 430-490 Hz at load 5, 345 Hz once in a CI run on a slower one, median 2.14 ms).
    period_ms = 1e3 / RATE
    gap = np.median(gaps)
    assert abs(gap - period_ms) <= 0.15 * period_ms, f"median gap {gap:.2f} ms"
    assert floor * RATE <= rate <= 1.05 * RATE, f"{rate:.1f} Hz, asked for {RATE} Hz"
    assert share < 0.9, f"the emulator took {100 * share:.0f}% of a core at {RATE:g} Hz"
    return rate, window


def test_joint_states_arrive_at_the_rate_in_broadcast_order_with_vendor_names(emulator):
    e = emulator
    _, window = measure_rate(e, 3.0, "no camera")
    assert all(tuple(m.name) == ROBOT.broadcast_order for m in window)
    assert all(len(m.position) == len(m.velocity) == len(m.effort) == 9 for m in window)
    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in window])
    assert np.all(np.diff(stamps) > 0)  # sampled in order, each once
    # Stamped with the node clock (system time here) when sampled: close to now.
    assert abs(stamps[-1] - time.time()) < 1.0
    # Started near home (within 0.05 rad), at rest (gravity compensated).
    positions = e.positions()
    assert all(abs(positions[j] - ROBOT.home[j]) <= 0.05 + 1e-6 for j in positions)
    assert max(e.speeds().values()) < 1e-3


def test_object_poses_carry_exactly_the_joint_states_stamps(emulator):
    e = emulator
    first = {name: len(e.poses[name]) for name in OBJECTS}
    e.probe.spin_for(1.0)
    joint = {stamp_ns(deserialize_message(b, JointState).header.stamp) for b in e.raw}
    poses = {
        name: [deserialize_message(b, PoseStamped) for b in e.poses[name][first[name] :]]
        for name in OBJECTS
    }
    stamps = {name: [stamp_ns(p.header.stamp) for p in got] for name, got in poses.items()}
    assert len(stamps["block"]) > 50, {name: len(s) for name, s in stamps.items()}
    assert all(p.header.frame_id == "world" for got in poses.values() for p in got)
    for name in OBJECTS:
        assert set(stamps[name]) <= joint, f"{name} poses stamped unlike any joint state"
        assert stamps[name] == sorted(set(stamps[name]))
    both = sorted(set(stamps["block"]) & set(stamps["goal"]))
    assert len(both) >= len(stamps["block"]) - 2  # sampled together (the windows' edges aside)
    # object_rate 100 Hz at 500 Hz: every 5th joint state, none left out in between.
    between = sorted(t for t in joint if both[0] <= t <= both[-1])
    assert between[::5] == both
    block = poses["block"][-1].pose
    assert block.position.z == pytest.approx(BLOCK_HALF, abs=2e-3)  # resting on the bench
    assert abs(block.orientation.w**2 + block.orientation.z**2 - 1.0) < 1e-6  # upright


def numbers(text: str, name: str) -> np.ndarray:
    """The (x, y, z) m the reset's reply gives for object `name`."""
    found = re.search(rf"{name} at \(([-\d.]+), ([-\d.]+), ([-\d.]+)\) m", text)
    assert found, text
    return np.array([float(v) for v in found.groups()])


def position(msg: PoseStamped) -> np.ndarray:
    return np.array([msg.pose.position.x, msg.pose.position.y, msg.pose.position.z])


def test_reset_scene_moves_the_block_and_the_goal_but_not_the_arm(emulator):
    e = emulator
    arm = e.settle(0.2)
    before = {name: position(e.pose(name)) for name in OBJECTS}
    reply = e.reset_scene()
    assert reply.success, reply.message
    after_reply = time.time_ns()
    e.probe.spin_until(
        lambda: all(stamp_ns(e.pose(n).header.stamp) > after_reply for n in OBJECTS),
        WAIT,
        "poses sampled after the reset",
    )
    for name in OBJECTS:
        now = position(e.pose(name))
        assert np.linalg.norm(now - before[name]) > 0.01, (name, now, before[name])
        assert np.allclose(now, numbers(reply.message, name), atol=2e-3), reply.message
    still = e.settle(0.2)
    assert max(abs(still[j] - arm[j]) for j in arm) < 1e-3
    assert "scene reset 1:" in log_text(e.proc)


def test_robot_description_is_latched_with_vendor_joint_names(emulator):
    e = emulator
    e.probe.spin_until(lambda: e.descriptions, WAIT, "/robot_description")
    urdf = e.descriptions[-1].data
    assert urdf.lstrip().startswith("<robot")
    joints = re.findall(r'<joint name="([^"]+)" type="(?:revolute|continuous)"', urdf)
    assert sorted(joints) == sorted(ROBOT.joints.values())


def test_a_velocity_command_moves_the_named_joint_and_only_it(emulator):
    e = emulator
    before = e.settle(0.2)
    e.command(joint_3=0.3)
    e.probe.spin_until(lambda: e.speeds()["joint_3"] > 0.25, WAIT, "joint_3 moving")
    moving = e.settle(0.5)
    e.command()  # all zero: stop
    e.probe.spin_until(lambda: e.speeds()["joint_3"] < 1e-3, WAIT, "joint_3 at rest")
    after = e.positions()
    assert after["joint_3"] - before["joint_3"] > 0.15
    assert moving["joint_3"] > before["joint_3"]
    others = {j: abs(after[j] - before[j]) for j in after if j != "joint_3"}
    assert max(others.values()) < 5e-3, others
    # A message of the wrong length is refused (logged), never applied.
    e.commands.publish(Float64MultiArray(data=[0.5] * 8))
    e.probe.spin_until(lambda: "refused a command" in log_text(e.proc), WAIT, "the refusal")
    assert "needs 9 values" in log_text(e.proc)
    still = e.settle(0.3)
    assert max(abs(still[j] - after[j]) for j in still) < 1e-3


def trajectory(names: list[str], positions: list[float], seconds: float) -> JointTrajectory:
    msg = JointTrajectory(joint_names=names)
    whole = int(seconds)
    msg.points = [
        JointTrajectoryPoint(
            positions=positions,
            time_from_start=Duration(sec=whole, nanosec=int((seconds - whole) * 1e9)),
        )
    ]
    return msg


def test_a_trajectory_homes_the_arm(emulator):
    e = emulator
    # Model names are not the vendor's: refused, and the arm stays where it is.
    e.trajectories.publish(trajectory(["joint_1"], [0.0], 1.0))
    e.probe.spin_until(lambda: "refused a trajectory" in log_text(e.proc), WAIT, "the refusal")
    assert "unknown joint(s) ['joint_1']" in log_text(e.proc)
    names = sorted(ROBOT.joints.values(), reverse=True)  # an order of its own
    before = e.positions()
    assert max(abs(before[j] - ROBOT.home[j]) for j in before) > ROBOT.home_tolerance
    e.trajectories.publish(trajectory(names, [ROBOT.home[MODEL[n]] for n in names], 2.0))

    def homed() -> bool:
        at = e.positions()
        return all(abs(at[j] - ROBOT.home[j]) < ROBOT.home_tolerance for j in at)

    e.probe.spin_until(homed, WAIT, "the arm at home")
    rest = e.settle(0.5)  # and it stays there
    assert max(abs(rest[j] - ROBOT.home[j]) for j in ROBOT.home) < ROBOT.home_tolerance


def test_protective_stop_brakes_ignores_commands_and_clears(emulator):
    e = emulator
    e.command(joint_1=0.4)
    e.probe.spin_until(lambda: e.speeds()["joint_1"] > 0.35, WAIT, "joint_1 moving")
    assert e.protective_stop(True).success
    e.probe.spin_until(lambda: max(e.speeds().values()) < 1e-3, WAIT, "the arm braked to rest")
    held = e.positions()
    e.command(joint_2=0.4)
    count = len(e.raw)
    after = e.settle(0.5)
    assert len(e.raw) - count > 100  # joint_states go on
    assert max(abs(after[j] - held[j]) for j in held) < 1e-3
    assert "protective stop" in log_text(e.proc)
    assert e.protective_stop(False).success
    e.settle(0.3)
    assert max(e.speeds().values()) < 1e-3  # cleared: at rest until told otherwise
    e.command(joint_2=0.3)
    e.probe.spin_until(lambda: e.speeds()["joint_2"] > 0.25, WAIT, "joint_2 moving again")
    e.command()


def test_a_bad_robot_config_stops_the_emulator_at_start_saying_why(tmp_path):
    proc = start_node("arm_emulator", fresh_domain(), tmp_path, params={"robot": "nope"})
    assert proc.wait(WAIT) == 2
    text = log_text(proc)
    assert "error: robot config" in text and "(robots here: jaco)" in text, text


def test_camera_pictures_show_the_block_where_the_motion_capture_has_it(tmp_path):
    try:
        e = Emulator(tmp_path, camera_rate=2.0, start="home")
    except AssertionError as err:
        if "offscreen rendering is unavailable" not in str(err):
            raise
        if os.environ.get("SKILL_EMBEDDING_RENDER_TESTS") == "required":
            pytest.fail(str(err))
        line = next(x for x in str(err).splitlines() if x.startswith("error:"))
        pytest.skip(f"this machine cannot render: {line}")
    try:
        images, infos, node = [], [], e.probe.node
        node.create_subscription(Image, "/camera/image_raw", images.append, topics.SENSOR)
        node.create_subscription(CameraInfo, "/camera/camera_info", infos.append, topics.SENSOR)
        # Rendering takes CPU the timer then lacks on 2 shared cores (measured 350-465 Hz).
        measure_rate(e, 3.0, "camera at 2 Hz")

        # The newest picture with its info (a 2 MB picture is often lost: 5 of 12 got through)
        def pair() -> tuple[Image, CameraInfo] | None:
            info = {stamp_ns(i.header.stamp): i for i in infos}
            both = [(m, info.get(stamp_ns(m.header.stamp))) for m in images]
            return next((b for b in reversed(both) if b[1] is not None), None)

        e.probe.spin_until(lambda: pair() is not None, WAIT, "a picture and its camera info")
        image, info = pair()
        assert (image.encoding, image.width, image.height) == ("rgb8", 960, 720)
        assert info.header.frame_id == image.header.frame_id
        apart = np.diff([stamp_ns(m.header.stamp) for m in images]) * 1e-9
        assert np.all(apart > 0.45), apart  # at most 2 a second (the grid's 0.5 s, less jitter)
        # Stamped with the sampling time of the state drawn: a joint state's stamp.
        stamp = stamp_ns(image.header.stamp)
        assert stamp in {stamp_ns(deserialize_message(b, JointState).header.stamp) for b in e.raw}
        locator = ArucoLocator("DICT_4X4_50", 0, 0.04, BLOCK_HALF, DEFAULT_POSE)
        camera = intrinsics_from_fields(info.width, info.height, info.k, info.d)
        picture = gray(image.encoding, image.height, image.width, image.step, image.data)
        seen = locator(picture, camera)
        assert seen is not None, "the marker on the block is not in the picture"
        mocap = min(
            (deserialize_message(b, PoseStamped) for b in e.poses["block"]),
            key=lambda p: abs(stamp_ns(p.header.stamp) - stamp),
        )
        error = np.linalg.norm(seen[0] - position(mocap))
        print(f"ArUco vs motion capture: {error * 1e3:.1f} mm")
        assert error < 0.005, f"{error * 1e3:.1f} mm between the ArUco pose and the mocap pose"
    finally:
        code = stop(e.proc)
        e.probe.close()
    assert code == 0, log_text(e.proc)
    rendered = log_text(e.proc).strip().splitlines()[-1]  # the camera's frame count and time
    print(f"{len(images)} picture(s) and {len(infos)} camera info(s) received; {rendered}")


def test_a_camera_without_rendering_stops_the_emulator_at_start_saying_what_to_install(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("MUJOCO_GL", "disable")  # as a machine without OpenGL
    proc = start_node("arm_emulator", fresh_domain(), tmp_path, params={"camera_rate": 2.0})
    assert proc.wait(WAIT) == 2
    error = [line for line in log_text(proc).splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "camera_rate 2 Hz" in error[0], log_text(proc)
    assert "apt-get install -y libosmesa6" in error[0] and "MUJOCO_GL=osmesa" in error[0]
