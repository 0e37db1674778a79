"""Every topic and service name of the graph (one source of truth), free of ROS so that the
store and bag ingestion (data/) use the same names as the nodes; ros/topics.py adds the QoS.

Relative names live in an actor's namespace (/actor_0/commands); names with a leading slash are
shared by the whole graph.
"""

from __future__ import annotations

# per actor (relative)
COMMANDS = "commands"  # std_msgs/Float64MultiArray: joint velocity commands (m/s), gate -> bridge
SAFETY_STOP = "safety_stop"
"""layout.dim[0].label of a stop the safety gate sends on its own (watchdog, e-stop). Drivers
apply it like any command (zeros); a lockstep bridge does not step on it: in lockstep nothing
moves between steps anyway, and stepping would start a second command/state chain beside the
policy's."""
POLICY_COMMAND = "policy_command"
"""sensor_msgs/JointState, policy -> gate: the command by joint name, stamped with the state it
answers; the command interface's field (velocity, position or effort) holds the values."""
EXECUTED = "executed"
"""sensor_msgs/JointState, gate -> policy: what the gate sent the robot in answer to a policy
command, with that command's stamp (what a step records)."""
JOINT_STATES = "joint_states"  # sensor_msgs/JointState
OBJECT_POSE = "objects/{name}/pose"  # geometry_msgs/PoseStamped, one topic per object
STEP_RECORDS = "step_records"  # std_msgs/Float64MultiArray (data/step_record.py layout)
GATE_STATE = "gate_state"  # diagnostic_msgs/DiagnosticStatus
RESET = "reset"  # std_srvs/Trigger on the gate: start a new, re-randomized episode
ROBOT_DESCRIPTION = "robot_description"  # std_msgs/String, latched: URDF or MJCF (bridge, driver)
ROBOT_RESET = "robot_reset"  # std_srvs/Trigger on the bridge (or driver); only the gate calls it
ESTOP = "estop"  # std_srvs/SetBool on the gate: true latches the e-stop, false releases it

# shared (absolute)
POLICY_WEIGHTS = "/policy_weights"  # std_msgs/UInt8MultiArray: safetensors bytes with a version
DIAGNOSTICS = "/diagnostics"  # diagnostic_msgs/DiagnosticArray
CLOCK = "/clock"  # rosgraph_msgs/Clock (a real-time bridge that owns time)
JOY = "/joy"  # sensor_msgs/Joy (teleop takeover, a later issue)


def object_pose_topic(name: str) -> str:
    return OBJECT_POSE.format(name=name)
