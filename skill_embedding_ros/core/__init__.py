"""ROS-free core: networks, losses, Retrace, replay, actor logic, learner, trainer."""
