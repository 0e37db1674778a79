"""Train skills in simulation (graph config/graphs/train_sim.yaml): per actor, in namespace
actor_<i>, a MuJoCo sim bridge, a safety gate and an exploring skill policy; one replay recorder
and one learner.

    ros2 launch skill_embedding_ros train_sim.launch.py actors:=4
    ros2 launch skill_embedding_ros train_sim.launch.py --show-args

The arguments, their descriptions and the nodes all come from the graph file, which
`skill-embedding launch train_sim` reads as well.
"""

from skill_embedding_ros.ros.launch_graph import graph_launch_description


def generate_launch_description():
    return graph_launch_description("train_sim")
