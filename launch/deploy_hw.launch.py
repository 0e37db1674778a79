"""Teleop-monitored trials of a skill checkpoint on a physical arm under ros2_control
(graph config/graphs/deploy_hw.yaml; docs/hardware.md): the arm driver, the safety gate with
the operator's deadman and takeover, the skill policy, the trial manager, object poses and a bag.

    ros2 launch skill_embedding_ros deploy_hw.launch.py \
        checkpoint:=runs/jaco/checkpoint.safetensors \
        trials:=3
    ros2 launch skill_embedding_ros deploy_hw.launch.py --show-args

The arguments, their descriptions and the nodes all come from the graph file, which
`skill-embedding launch deploy_hw` reads as well.
"""

from skill_embedding_ros.ros.launch_graph import graph_launch_description


def generate_launch_description():
    return graph_launch_description("deploy_hw")
