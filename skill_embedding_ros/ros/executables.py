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
