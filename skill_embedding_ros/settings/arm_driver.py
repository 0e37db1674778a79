"""The arm driver node's parameters (ros/params.py declares them)."""

from __future__ import annotations

from dataclasses import dataclass

from skill_embedding_ros.settings.base import Settings, flag, number, text
from skill_embedding_ros.topic_names import ROBOT_RESET


@dataclass
class ArmDriverConfig(Settings):
    """Arm driver node: the graph's side of a vendor's ros2_control stack."""

    robot: str = text("jaco", nonempty=True)
    """Robot config (config/robots/<name>.yaml, or a path): the vendor's joint names, its
    controllers, home, homing speed and tolerance (robots/ros2_control.py)."""
    reset_service: str = text(ROBOT_RESET, nonempty=True)
    """Name (in the node's namespace) of the std_srvs/Trigger that homes the arm: robot_reset
    where the safety gate resets episodes; `home` where a trial manager stands in front."""
    state_timeout: float = number(0.06, "positive")
    """s: with no /joint_states of every joint for this long the arm holds. The stop goes out
    within state_timeout + 1 / check_rate (70 ms: inside two 50 ms control periods of the Jaco,
    benchmarks/results_stops.json); keep it above a few periods of the joint_state_broadcaster
    (50 Hz by default: 20 ms), or its jitter reads as a stale arm."""
    command_timeout: float = number(0.1, "positive")
    """s: with no graph `commands` for this long while active, the policy counts as lost and the
    arm holds."""
    configure_timeout: float = number(10.0, "positive")
    """s: how long configure waits for the vendor's /robot_description, a first /joint_states
    and its controllers' subscriptions before it fails."""
    autostart: bool = flag(True)
    """Configure and activate at start-up (a failure ends the process with the reason); false:
    wait for ~/change_state (lifecycle_msgs/ChangeState)."""
    state_rate: float = number(100.0, "positive")
    """Hz: at most this many graph-side joint_states a second: a vendor state is passed on when
    its stamp is at least 1 / state_rate after the last one passed (stamps kept). A
    joint_state_broadcaster at 500 Hz would keep the Python policy and gate busy with states
    they do not need (one per control period, 20 Hz for the Jaco) and, on a loaded machine,
    make them fall behind; 100 Hz leaves one within 5 ms of any instant."""
    check_rate: float = number(100.0, "positive")
    """Hz: how often the hold rules are checked; while one holds, zeros go to the velocity
    controller at this rate."""
    homing_ramp: float = number(0.5, "positive")
    """s: a homing trajectory takes this long to reach homing_speed and to stop from it."""
    homing_timeout: float = number(5.0, "positive")
    """s: allowed beyond the homing plan's own duration before a reset fails."""
    homed_speed: float = number(0.02, "positive")
    """rad/s: a joint slower than this (and within home_tolerance of home) is homed."""
