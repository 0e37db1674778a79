"""ArUco pose: a camera's images -> the stamped world pose of the object carrying a marker, on
objects/<object>/pose (geometry_msgs/PoseStamped), as the sim bridge publishes it from MuJoCo.

Subscribes the image (sensor_msgs/Image, decoded without cv_bridge: perception/image.py) and the
camera's sensor_msgs/CameraInfo (the latest one gives K and the distortion); finds the marker and
the object's pose (perception/aruco.py) through the camera's fixed pose in the world (parameters).
Each pose carries the IMAGE's stamp (when the light reached the camera, not when it was
processed) and frame `frame_id`. An image without the marker publishes nothing: no stale or
guessed pose; a warning repeats while the marker has not been seen for `warn_after` s.
"""

from __future__ import annotations

import sys

from geometry_msgs.msg import PoseStamped
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from skill_embedding_ros.perception.aruco import ArucoLocator
from skill_embedding_ros.perception.camera import CameraIntrinsics, intrinsics_from_fields
from skill_embedding_ros.perception.image import gray
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.settings.perception import ArucoConfig

ERROR_EVERY = 5.0  # s between repeats of one bad-input error (a camera sends 30 a second)


class ArucoPose(Node):
    def __init__(self):
        super().__init__("aruco_pose")
        cfg = self.cfg = declare(self, ArucoConfig)
        try:
            self.locator = ArucoLocator(
                cfg.dictionary,
                cfg.marker_id,
                cfg.marker_side,
                cfg.depth,
                (cfg.camera_position, cfg.camera_orientation),
            )
        except ValueError as err:
            raise SystemExit(f"error: aruco_pose parameters: {err}") from None
        self.camera: CameraIntrinsics | None = None
        self.topic = topics.object_pose_topic(cfg.object)
        self.pub = self.create_publisher(PoseStamped, self.topic, topics.RELIABLE)
        self.create_subscription(Image, cfg.image, self.on_image, topics.SENSOR)
        self.create_subscription(CameraInfo, cfg.camera_info, self.on_camera_info, topics.SENSOR)
        # The watch runs on the steady clock: it is about this process's wall time without a
        # sighting, whatever clock stamps the images.
        steady = self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.last_seen = steady.now().nanoseconds
        self.images = self.unseen = 0
        self.create_timer(cfg.warn_after, self.on_watch, clock=steady)
        self.get_logger().info(
            f"marker {cfg.marker_id} of {cfg.dictionary} ({cfg.marker_side} m) on "
            f"{cfg.object!r}: images {cfg.image}, camera info {cfg.camera_info} -> {self.topic} "
            f"in frame {cfg.frame_id!r}"
        )

    def on_camera_info(self, msg: CameraInfo) -> None:
        try:
            self.camera = intrinsics_from_fields(
                msg.width, msg.height, msg.k, msg.d, msg.distortion_model
            )
        except ValueError as err:
            self.camera = None  # a bad calibration must not keep an older one in use
            self._error(f"camera info on {self.cfg.camera_info} refused: {err}")

    def on_image(self, msg: Image) -> None:
        self.images += 1
        if self.camera is None:
            self.get_logger().warning(
                f"image without camera info: waiting for {self.cfg.camera_info} (K, distortion)",
                throttle_duration_sec=ERROR_EVERY,
            )
            return
        try:
            picture = gray(msg.encoding, msg.height, msg.width, msg.step, msg.data)
            pose = self.locator(picture, self.camera)
        except ValueError as err:
            self._error(f"image on {self.cfg.image} refused: {err}")
            return
        if pose is None:
            self.unseen += 1
            return
        self.last_seen = self._steady.now().nanoseconds
        out = PoseStamped()
        out.header.stamp = msg.header.stamp  # when the picture was taken, never now
        out.header.frame_id = self.cfg.frame_id
        p, r = out.pose.position, out.pose.orientation
        p.x, p.y, p.z = (float(c) for c in pose[0])
        r.w, r.x, r.y, r.z = (float(c) for c in pose[1])
        self.pub.publish(out)

    def on_watch(self) -> None:
        unseen_s = (self._steady.now().nanoseconds - self.last_seen) / 1e9
        if unseen_s >= self.cfg.warn_after:
            self.get_logger().warning(
                f"marker {self.cfg.marker_id} not seen for {unseen_s:.1f} s ({self.images} "
                f"images received, {self.unseen} without it): nothing published on {self.topic}"
            )

    def _error(self, text: str) -> None:
        self.get_logger().error(text, throttle_duration_sec=ERROR_EVERY)


def main(args=None) -> int:
    return spin(ArucoPose, args)


if __name__ == "__main__":
    sys.exit(main())
