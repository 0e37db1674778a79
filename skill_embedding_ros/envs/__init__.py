"""ROS-free MuJoCo task suites with the Gymnasium API."""

from skill_embedding_ros.envs.point_mass import PointMassEnv
from skill_embedding_ros.envs.suites import SUITES, Suite, get_suite

__all__ = ["SUITES", "PointMassEnv", "Suite", "get_suite"]
