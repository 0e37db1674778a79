"""Skill embedding spaces (Hausman et al., ICLR 2018) trained off-policy and run through ROS 2."""

__version__ = "0.1.0"
