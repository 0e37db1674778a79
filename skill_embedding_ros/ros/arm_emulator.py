"""Arm emulator: a robot under ros2_control (config/robots/<robot>.yaml) and the bench around it,
emulated with MuJoCo in real time (robots/emulated_arm.py, emulated_scene.py, scene_camera.py),
for tests and dry runs: the arm driver cannot tell it from the vendor's stack by its topics.

Vendor side, absolute names (robots/ros2_control.py), not in any actor's namespace:
* publishes `/joint_states` (sensor_msgs/JointState) at `rate` Hz from a steady-clock timer:
  every joint, fingers included, by vendor name in the config's `broadcast_order`; stamped with
  the node clock's time when the state was sampled (before the link's latency);
* subscribes the velocity controller's `/<name>/commands` (std_msgs/Float64MultiArray, one
  value per joint of its `joints`, in that order; a message of another length is refused, never
  applied) and the trajectory controller's `/<name>/joint_trajectory` (trajectory_msgs/
  JointTrajectory, vendor names in any order; unknown joints refused; a header stamp in the
  future delays its start);
* publishes `/robot_description` (std_msgs/String, latched): the suite's URDF, vendor names;
* serves `~/protective_stop` (std_srvs/SetBool): true triggers the fault (the arm brakes to rest
  and ignores commands until cleared), false clears it, as a pendant's recovery does;
* serves `~/stall` (std_srvs/SetBool): true stops the joint states (and poses) while the arm goes
  on under its last command, as a hung joint_state_broadcaster would; false resumes them.

The bench, as its own devices would publish it:
* motion capture: each object's pose (geometry_msgs/PoseStamped, frame `world`) on
  `<object_namespace>/objects/<name>/pose`, sampled with a joint state and carrying its very
  stamp, at most `object_rate` Hz, over the same imperfect link (lost independently);
* a camera (`camera_rate` > 0): rgb8 pictures with an ArUco marker on the block on
  `camera_topic` and their CameraInfo on `camera_info_topic` (sensor QoS), stamped with the
  sampling time of the state drawn; rendered in a thread of the node's own, so that a 40-130 ms
  frame does not hold up the joint states (rclpy runs this node's callbacks in one thread);
* serves `~/reset_scene` (std_srvs/Trigger): the block and the goal re-drawn as the suite's
  reset draws a new episode's, the arm left where it is (the operator putting the block back);
  the reply says where they are now.

The physics advances in whole physics steps (2 ms for the Jaco) as wall time passes, at each
tick of the timer, whatever the rate. Delayed states (`latency`) go out at the first tick after
they are due: their delay is exact to one publish period. Hooks in `after_advance` see the arm
(and its scene) after each advance, before the state is sampled.
"""

from __future__ import annotations

import array
import sys
from collections.abc import Callable

from geometry_msgs.msg import PoseStamped
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import InvalidTopicNameException
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from skill_embedding_ros.perception.camera import camera_info_fields
from skill_embedding_ros.robots.emulated_link import Link
from skill_embedding_ros.robots.ros2_control import (
    JOINT_STATES,
    ROBOT_DESCRIPTION,
    commands_topic,
    load_robot,
    trajectory_topic,
)
from skill_embedding_ros.robots.vendor_messages import (
    parse_trajectory,
    vendor_command,
    vendor_urdf,
)
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import stamp_ns
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.settings.nodes import EmulatorConfig
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.tasks.render import RenderingUnavailable, request_offscreen

WARN_EVERY = 2.0  # s between repeats of one warning (a bad publisher may send at 500 Hz)
WORLD = "world"
"""Frame of the object poses: the MuJoCo scene's world frame."""
CAMERA_FRAME = "camera_optical_frame"
"""Frame of the pictures (REP 103 optical frame; the aruco_pose node takes the camera's pose in
the world from its own parameters)."""


class ArmEmulator(Node):
    def __init__(self):
        super().__init__("arm_emulator")
        c = self.cfg = declare(self, EmulatorConfig)
        if c.camera_rate > 0:
            request_offscreen()  # MuJoCo picks its OpenGL backend once, when first imported
        # Imported only now, after that request: these import mujoco.
        from skill_embedding_ros.robots.emulated_arm import EmulatedArm
        from skill_embedding_ros.robots.emulated_scene import SceneObjects, stride

        try:
            self.robot = robot = load_robot(c.robot)
            suite = get_suite(robot.suite)
            urdf = suite.urdf()
            if urdf is None:
                raise ValueError(f"suite {suite.name!r} has no URDF for {ROBOT_DESCRIPTION}")
            description = vendor_urdf(urdf, robot)
            self._steady = Clock(clock_type=ClockType.STEADY_TIME)
            link = Link(c.latency, c.jitter, c.noise_position, c.noise_velocity, c.drop)
            scene = suite.make_scene()
            self.arm = EmulatedArm(robot, scene, link, c.seed, c.start, self._now())
            every = stride(c.rate, c.object_rate)
            self.objects = SceneObjects(scene, self.arm.joints, link, c.seed, every)
        except ValueError as err:
            raise SystemExit(f"error: {err} (parameter robot={c.robot!r})") from None
        self.after_advance: list[Callable] = []
        """Called as hook(arm, now) after each advance of the physics (now: steady clock, s)."""

        self.state_pub = self.create_publisher(JointState, JOINT_STATES, topics.RELIABLE)
        latched = self.create_publisher(String, ROBOT_DESCRIPTION, topics.LATCHED)
        latched.publish(String(data=description))
        self.commands = commands_topic(robot.velocity.name)
        self.trajectories = trajectory_topic(robot.trajectory.name)
        self.create_subscription(
            Float64MultiArray, self.commands, self.on_command, topics.RELIABLE
        )
        self.create_subscription(
            JointTrajectory, self.trajectories, self.on_trajectory, topics.RELIABLE
        )
        self.create_service(SetBool, "~/protective_stop", self.on_protective_stop)
        self.stalled = False
        self.create_service(SetBool, "~/stall", self.on_stall)
        self.create_service(Trigger, "~/reset_scene", self.on_reset_scene)
        self.pose_pubs = self._pose_publishers()
        self.camera = self._camera()
        # The steady clock: a wall-clock jump (NTP) must not bunch or starve the states.
        self.create_timer(1.0 / c.rate, self.on_tick, clock=self._steady)
        poses = (
            f"poses of {list(self.objects.names)} under {c.object_namespace} every {every} "
            "state(s)"
            if self.pose_pubs
            else "no object poses"
        )
        camera = f"camera {c.camera_topic} at {c.camera_rate:g} Hz" if self.camera else "no camera"
        self.get_logger().info(
            f"emulating {c.robot!r} (suite {suite.name!r}, {self.arm.dt * 1e3:g} ms "
            f"physics steps, start {c.start}): {JOINT_STATES} at {c.rate:g} Hz "
            f"in order {list(robot.broadcast_order)}; commands on {self.commands}, "
            f"trajectories on {self.trajectories}; {ROBOT_DESCRIPTION} latched; {poses}; "
            f"{camera}; link: latency {c.latency:g} s, jitter {c.jitter:g} s, noise "
            f"{c.noise_position:g} rad / {c.noise_velocity:g} rad/s, drop {c.drop:g}"
        )

    def _pose_publishers(self) -> dict:
        namespace = self.cfg.object_namespace
        if not namespace:
            return {}
        topic = namespace + "/" + topics.OBJECT_POSE
        try:
            return {
                name: self.create_publisher(PoseStamped, topic.format(name=name), topics.RELIABLE)
                for name in self.objects.names
            }
        except InvalidTopicNameException as err:
            raise SystemExit(
                f"error: object_namespace {namespace!r} does not make a valid topic name: "
                f"{' '.join(str(err).split())}"
            ) from None

    def _camera(self):
        c = self.cfg
        if c.camera_rate <= 0:
            return None
        from skill_embedding_ros.robots.scene_camera import Cadence, SceneCamera

        try:
            camera = SceneCamera(self.arm.scene)
        except (RenderingUnavailable, ValueError) as err:
            raise SystemExit(
                f"error: camera_rate {c.camera_rate:g} Hz: {' '.join(str(err).split())} "
                "(or set camera_rate 0: no camera)"
            ) from None
        self.cadence = Cadence(c.camera_rate)
        self.info = camera_info_fields(camera.intrinsics)
        self.image_pub = self.create_publisher(Image, c.camera_topic, topics.SENSOR)
        self.info_pub = self.create_publisher(CameraInfo, c.camera_info_topic, topics.SENSOR)
        self._camera_failed = False
        return camera

    def _now(self) -> float:
        return self._steady.now().nanoseconds * 1e-9

    def on_tick(self) -> None:
        now = self._now()
        skipped = self.arm.skipped
        self.arm.advance(now)
        if self.arm.skipped > skipped:
            self.get_logger().warning(
                f"this process stalled for {self.arm.skipped - skipped:.1f} s: the arm "
                "resumes from where it was",
                throttle_duration_sec=WARN_EVERY,
            )
        for hook in self.after_advance:
            hook(self.arm, now)
        # One stamp for everything sampled at this instant: a policy pairs them exactly.
        stamp = self.get_clock().now().to_msg()
        self.arm.sample(now, stamp)
        if self.pose_pubs:
            self.objects.sample(now, stamp)
        if self.camera is not None and self.cadence.due(now):
            self.camera.capture(stamp)
        for state in self.arm.states(now):
            if self.stalled:
                continue
            msg = JointState()
            msg.header.stamp = state.stamp
            msg.name = list(state.names)
            msg.position = state.position.tolist()
            msg.velocity = state.velocity.tolist()
            msg.effort = state.effort.tolist()
            self.state_pub.publish(msg)
        if self.pose_pubs:
            for sample in self.objects.samples(now):
                if not self.stalled:
                    self.publish_poses(sample)
        if self.camera is not None:
            self.publish_frames()
        self.log_events()

    def publish_poses(self, sample) -> None:
        for name, (position, quat) in sample.poses.items():
            msg = PoseStamped()
            msg.header.stamp = sample.stamp
            msg.header.frame_id = WORLD
            p, r = msg.pose.position, msg.pose.orientation
            p.x, p.y, p.z = (float(v) for v in position)
            r.w, r.x, r.y, r.z = (float(v) for v in quat)
            self.pose_pubs[name].publish(msg)

    def publish_frames(self) -> None:
        for frame in self.camera.frames():
            height, width = frame.rgb.shape[:2]
            image = Image(height=height, width=width, encoding="rgb8", step=3 * width)
            image.header.stamp = frame.stamp
            image.header.frame_id = CAMERA_FRAME
            # An array.array is taken as it is; any other sequence is checked item by item.
            image.data = array.array("B", frame.rgb.tobytes())
            info = CameraInfo(**self.info)
            info.header = image.header
            self.image_pub.publish(image)
            self.info_pub.publish(info)
        if self.camera.failure is not None and not self._camera_failed:
            self._camera_failed = True
            self.get_logger().error(
                f"the camera stopped: {type(self.camera.failure).__name__}: "
                f"{self.camera.failure}; no more pictures (joint states and poses go on)"
            )

    def log_events(self) -> None:
        log = self.get_logger()
        for level, text in self.arm.events():
            if level == "error":
                log.error(text)
            elif level == "warn":
                log.warning(text, throttle_duration_sec=WARN_EVERY)
            else:
                log.info(text)

    def on_command(self, msg: Float64MultiArray) -> None:
        try:
            values = vendor_command(self.robot, msg.data)
        except ValueError as err:
            self.get_logger().error(
                f"refused a command on {self.commands}: {err}; not applied",
                throttle_duration_sec=WARN_EVERY,
            )
            return
        self.arm.command(values, self._now())

    def on_trajectory(self, msg: JointTrajectory) -> None:
        now = self._now()
        points = msg.points
        try:
            trajectory = parse_trajectory(
                self.robot,
                list(msg.joint_names),
                [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in points],
                [list(p.positions) for p in points],
            )
        except ValueError as err:
            self.get_logger().error(
                f"refused a trajectory on {self.trajectories}: {err}; not followed",
                throttle_duration_sec=WARN_EVERY,
            )
            return
        start_at = None
        if stamp_ns(msg.header.stamp):  # a start time on the node clock: on the steady one
            ahead = (stamp_ns(msg.header.stamp) - self.get_clock().now().nanoseconds) * 1e-9
            start_at = now + ahead
        self.arm.follow(trajectory, now, start_at)

    def on_protective_stop(self, request: SetBool.Request, response: SetBool.Response):
        self.arm.protective_stop(bool(request.data), self._now())
        self.log_events()
        response.success = True
        response.message = "protective stop on" if request.data else "protective stop cleared"
        return response

    def on_stall(self, request: SetBool.Request, response: SetBool.Response):
        self.stalled = bool(request.data)
        self.get_logger().warning(
            "joint states stalled" if self.stalled else "joint states resume"
        )
        response.success, response.message = True, "stalled" if self.stalled else "resumed"
        return response

    def on_reset_scene(self, request: Trigger.Request, response: Trigger.Response):
        from skill_embedding_ros.robots.emulated_scene import describe

        self.arm.advance(self._now())  # until now, the objects were where they were
        where = describe(self.objects.reset())
        self.get_logger().info(f"scene reset {self.objects.resets}: {where}")
        response.success = True
        response.message = where
        return response

    def close(self) -> None:
        if self.camera is not None:
            self.camera.close()
            self.get_logger().info(
                f"camera: {self.camera.rendered} frame(s), "
                f"{self.camera.seconds_per_frame * 1e3:.0f} ms each on average, "
                f"{self.camera.skipped} skipped (due while one was rendering)"
            )


def main(args=None) -> int:
    return spin(ArmEmulator, args)


if __name__ == "__main__":
    sys.exit(main())
