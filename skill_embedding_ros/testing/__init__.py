"""Factories that tests, benchmarks and scripts share (importable, so none of them edits
sys.path): episodes and networks (episodes.py), bags (bags.py). ROS-free; the node processes and
the probe that talk over DDS live with the nodes, in ros/processes.py.
"""
