"""The scene markers node's parameters (ros/params.py declares them)."""

from __future__ import annotations

from dataclasses import dataclass

from skill_embedding_ros.settings.base import Settings, items, number, text


@dataclass
class MarkersConfig(Settings):
    """Scene markers node: what an operator sees in RViz or Foxglove beside the robot model."""

    objects: tuple[str, ...] = items((), str, "object names", lambda v: all(v))
    """Objects to draw, each from its objects/<name>/pose (a sphere and its name)."""
    object_size: float = number(0.05, "positive")
    """m: the spheres' diameter."""
    workspace: tuple = items((), float, "six numbers (m) or none", lambda v: len(v) in (0, 6))
    """The bench area the trials use, x_min x_max y_min y_max z_min z_max (m, `frame_id`), drawn
    as a box for the operator's orientation; nothing enforces it (the gate enforces the joint
    limits). Empty: no box."""
    frame_id: str = text("world", nonempty=True)
    """Frame of the markers (the poses' frame)."""
    rate: float = number(5.0, "positive")
    """Hz: how often the markers are published."""
