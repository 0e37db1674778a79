"""Evaluate a checkpoint in simulation (graph config/graphs/evaluate_sim.yaml): per actor, in
namespace actor_<i>, a MuJoCo sim bridge, a safety gate and a skill policy with the checkpoint's
weights acting with mean actions; ends when every policy has run its episodes.

    ros2 launch skill_embedding_ros evaluate_sim.launch.py \
        checkpoint:=runs/graph/checkpoint.safetensors episodes:=20
    ros2 launch skill_embedding_ros evaluate_sim.launch.py --show-args

The arguments, their descriptions and the nodes all come from the graph file, which
`skill-embedding launch evaluate_sim` reads as well.
"""

from skill_embedding_ros.ros.launch_graph import graph_launch_description


def generate_launch_description():
    return graph_launch_description("evaluate_sim")
