"""Node executables: name -> "module:function". setup.py turns these into console scripts (what
launch files and graph descriptions name), and the pip launcher runs the modules directly.
Kept free of imports so setup.py can read it without installing anything."""

NODES = {
    "sim_bridge": "skill_embedding_ros.ros.sim_bridge:main",
    "skill_policy": "skill_embedding_ros.ros.skill_policy:main",
    "safety_gate": "skill_embedding_ros.ros.safety_gate:main",
    "replay_recorder": "skill_embedding_ros.ros.replay_recorder:main",
    "learner": "skill_embedding_ros.ros.learner_node:main",
    "bag_recorder": "skill_embedding_ros.ros.bag_recorder:main",
    "arm_driver": "skill_embedding_ros.ros.arm_driver:main",
    "arm_emulator": "skill_embedding_ros.ros.arm_emulator:main",
    "keyboard_teleop": "skill_embedding_ros.ros.keyboard_teleop:main",
    "aruco_pose": "skill_embedding_ros.ros.aruco_pose:main",
    "static_pose": "skill_embedding_ros.ros.static_pose:main",
    "scene_markers": "skill_embedding_ros.ros.scene_markers:main",
    "trial_manager": "skill_embedding_ros.ros.trial_manager:main",
}

CONTAINER = {"actor_container": "skill_embedding_ros.ros.container:main"}
"""Not a node: a process that runs several of the COMPOSABLE ones (ros/container.py)."""

COMPOSABLE = {
    "sim_bridge": "skill_embedding_ros.ros.sim_bridge:SimBridge",
    "safety_gate": "skill_embedding_ros.ros.safety_gate:SafetyGate",
    "skill_policy": "skill_embedding_ros.ros.skill_policy:SkillPolicyNode",
}
"""The nodes an `actor_container` process can hold (ros/container.py): an actor's own nodes,
each a class taking no constructor arguments (names, namespace and parameters come from the
command line)."""

# The dataclass in skill_embedding_ros.settings.nodes whose fields are each node's ROS parameters:
# graph descriptions are checked against it, and each node declares exactly these (a test checks
# that the node module names the same class).
PARAMETERS = {
    "sim_bridge": "BridgeConfig",
    "skill_policy": "PolicyNodeConfig",
    "safety_gate": "GateConfig",
    "replay_recorder": "StoreConfig",
    "learner": "LearnerNodeConfig",
    "bag_recorder": "BagRecordConfig",
    "arm_driver": "ArmDriverConfig",
    "arm_emulator": "EmulatorConfig",
    "keyboard_teleop": "KeyboardTeleopConfig",
    "aruco_pose": "ArucoConfig",
    "static_pose": "StaticPoseConfig",
    "scene_markers": "MarkersConfig",
    "trial_manager": "TrialConfig",
}
