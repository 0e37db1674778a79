"""Factories and probes that tests, benchmarks and scripts share (importable, so none of them
edits sys.path): real node processes on an isolated ROS domain and a probe node to talk to them.
"""
