"""The point-mass plug-in: a mass on two slide joints, alone (reach) or with a block (push)."""

from skill_embedding_ros.tasks.point_mass.scene import PointMassEnv
from skill_embedding_ros.tasks.point_mass.suites import SUITES, Suite, get_suite

__all__ = ["SUITES", "PointMassEnv", "Suite", "get_suite"]
