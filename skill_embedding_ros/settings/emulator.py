"""The hardware emulator node's parameters (ros/params.py declares them)."""

from __future__ import annotations

from dataclasses import dataclass

from skill_embedding_ros.settings.base import (
    Settings,
    choice,
    number,
    pattern,
    random_seed,
    text,
)

STARTS = ("near_home", "home")
OBJECT_NAMESPACE = r"(|/[A-Za-z0-9_/]*[A-Za-z0-9_])"
"""An absolute namespace (/arm, /mocap), or nothing (off)."""


@dataclass
class EmulatorConfig(Settings):
    """Hardware emulator node: MuJoCo in real time behind a ros2_control arm's topics."""

    robot: str = text("jaco", nonempty=True)
    """The robot config: a name under config/robots/ (e.g. jaco) or a path to its YAML. It
    names the suite whose MuJoCo scene is emulated, the vendor joint names and controllers."""
    rate: float = number(100.0, "[1, 1000]")
    """Hz: how often joint_states is published (the joint_state_broadcaster's rate). The
    physics advances in whole physics steps (2 ms for the Jaco) as wall time passes, whatever
    the rate."""
    latency: float = number(0.0, "[0, 1]")
    """s: commands and trajectories act this much after they arrive, and each joint state is
    published this much after it was sampled (each way, like a slow link)."""
    jitter: float = number(0.0, "[0, 1]")
    """s: a uniform extra delay in [0, jitter] on top of `latency`, drawn per message; messages
    keep their order (a reliable link delivers in order)."""
    noise_position: float = number(0.0, ">= 0")
    """rad: standard deviation of Gaussian noise on each reported position."""
    noise_velocity: float = number(0.0, ">= 0")
    """rad/s: standard deviation of Gaussian noise on each reported velocity."""
    drop: float = number(0.0, "[0, 1)")
    """Probability that a joint_states message is lost, and, separately, that a command or a
    trajectory is lost on its way to the arm, and that an object pose message is lost."""
    seed: int = random_seed(0)
    """Seeds the start pose, the noise, the jitter, the drops and the scene resets
    (~/reset_scene) (repeatable runs)."""
    start: str = choice("near_home", STARTS)
    """Where the arm starts: near_home (each joint, fingers included, uniformly within 0.05 rad
    of the robot config's home, inside its range: more than its home tolerance, so a driver
    must home it, as after a power-up) or home (exactly the robot config's home pose). The
    scene's objects start as the suite's default task places them."""
    object_namespace: str = pattern(
        "/mocap", OBJECT_NAMESPACE, "an absolute namespace such as /arm, or empty: off"
    )
    """Where each object of the scene (block, goal) gets its pose: `<namespace>/objects/<name>/
    pose` (topic_names.OBJECT_POSE; geometry_msgs/PoseStamped, frame `world`, m and a unit
    quaternion), as a motion-capture system publishes it. Each pose is sampled at the instant of
    a joint state and carries that joint state's stamp exactly; it goes through the same
    latency, jitter and drop as joint_states (lost independently). A deploy graph sets the
    arm's namespace (/arm), where the skill policy reads its objects. Empty: no poses."""
    object_rate: float = number(100.0, "(0, 1000]")
    """Hz: at most this many poses of each object a second: every joint state at or below this
    rate, else every n-th with n = ceil(rate / object_rate) (100 Hz at the 500 Hz of a
    deploy graph: every 5th joint state, 10 ms apart, well within a quarter of a 50 ms control
    period)."""
    camera_rate: float = number(0.0, "[0, 30]")
    """Hz: pictures of the scene (sensor_msgs/Image, rgb8, 960 x 720 px) with an ArUco marker
    on the block, from perception/camera.py's default camera pose (the aruco_pose node's
    default extrinsic), each with its CameraInfo, both stamped with the sampling time of the
    scene state drawn (the stamp of the joint state sampled with it). 0: no camera. A frame
    renders in 40-130 ms in a thread of its own; one due while the last still renders is
    skipped. Needs libosmesa6 (software OpenGL): without it the emulator stops at start saying
    what to install."""
    camera_topic: str = text("/camera/image_raw", nonempty=True)
    """sensor_msgs/Image topic of the camera (sensor QoS: best effort, only the newest
    matters)."""
    camera_info_topic: str = text("/camera/camera_info", nonempty=True)
    """sensor_msgs/CameraInfo topic of the camera (K of an ideal pinhole, no distortion; sensor
    QoS)."""
