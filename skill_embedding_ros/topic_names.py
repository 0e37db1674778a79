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
SIM_DESCRIPTION = "sim_description"
"""std_msgs/String, latched, bridge -> gate: the simulated scene's MJCF, always. It carries what a
URDF has no place for (per-joint inertia, servo lag), so a gate that has it takes its limits from
it and ignores `robot_description` (which may then be a URDF for ROS tools)."""
TASK = "task"
"""std_msgs/String, latched, policy -> bridge (and bags): the task of the episode the next reset
starts, published before the policy calls the gate's `reset`. The bridge resets for the latest
it has and names it in its reply (ros/conversions.py reset_reply), which the gate passes back.

Why the reply names it: Trigger has no request fields, and the task and the reset travel by
different DDS entities (a topic policy -> bridge; a service policy -> gate -> bridge). DDS orders
samples per writer only, so nothing guarantees the task arrives first: it usually does (the
reset has two hops and the gate waits for the robot to settle), but not when the bridge's
subscription matches the policy's writer late (a restarted bridge or policy). So the policy
checks the reply: a reset for another task (or for none: `task=`) is not the episode's start,
and it asks again (the latched task has reached the bridge by then). A robot that names no task
(a hardware driver) is taken at its word. Bags carry the topic too (data/bags/align.py)."""
ROBOT_RESET = "robot_reset"  # std_srvs/Trigger on the bridge (or driver); only the gate calls it
ESTOP = "estop"  # std_srvs/SetBool on the gate: true latches the e-stop, false releases it
HOME = "home"
"""std_srvs/Trigger on an arm driver that a trial manager stands in front of: home the arm at
capped speed; replies like `robot_reset` (ros/conversions.py reset_reply)."""
MARKERS = "markers"  # visualization_msgs/MarkerArray: the scene for RViz / Foxglove
TRIAL_STATE = "trial_state"
"""diagnostic_msgs/DiagnosticStatus, latched, trial manager -> operator UIs (Foxglove, a scripted
operator): values `phase` (control/trials.py Phase), `trial`, `trials`, `labelled` and `prompt`,
published whenever the phase changes."""
TRIAL_LABEL = "trial_label"
"""std_msgs/String, trial manager -> bags: one per finished trial, `trial=<k> episode=<n>
label=<success|failure|abort>` (data/bags reads it back, so ingested trials keep their labels)."""

# shared (absolute)
POLICY_WEIGHTS = "/policy_weights"  # std_msgs/UInt8MultiArray: safetensors bytes with a version
DIAGNOSTICS = "/diagnostics"  # diagnostic_msgs/DiagnosticArray
CLOCK = "/clock"  # rosgraph_msgs/Clock (a real-time bridge that owns time)
JOY = "/joy"  # sensor_msgs/Joy: teleop (deadman, takeover, e-stop, trial labels)


def object_pose_topic(name: str) -> str:
    return OBJECT_POSE.format(name=name)
