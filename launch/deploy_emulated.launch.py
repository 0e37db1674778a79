"""Teleop-monitored trials of a skill checkpoint on the hardware emulator (a dry run, and what the
tests run; graph config/graphs/deploy_emulated.yaml; docs/hardware.md): deploy_hw's nodes with
the arm, its ros2_control stack and the bench emulated in MuJoCo.

    ros2 launch skill_embedding_ros deploy_emulated.launch.py \
        checkpoint:=runs/jaco/checkpoint.safetensors \
        trials:=3
    ros2 launch skill_embedding_ros deploy_emulated.launch.py --show-args

The arguments, their descriptions and the nodes all come from the graph file, which
`skill-embedding launch deploy_emulated` reads as well.
"""

from skill_embedding_ros.ros.launch_graph import graph_launch_description


def generate_launch_description():
    return graph_launch_description("deploy_emulated")
