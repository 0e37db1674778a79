"""The trial manager node's parameters (ros/params.py declares them)."""

from __future__ import annotations

from dataclasses import dataclass

from skill_embedding_ros.settings.base import Settings, integer, number, text
from skill_embedding_ros.topic_names import HOME


@dataclass
class TrialConfig(Settings):
    """Trial manager node: N operator-monitored trials, labels and a report."""

    trials: int = integer(10, ">= 1")
    """N: trials to run; after the N-th is labelled the report is final, further resets are
    refused and the node exits 0."""
    teleop: str = text("xbox", nonempty=True)
    """Joy mapping (control/teleop.py load_mapping): a name under config/teleop/ or a YAML path;
    its roles confirm, success, failure and abort are the operator's buttons."""
    out: str = text("runs/trials", nonempty=True)
    """Run directory: the report goes to <out>/trials/ (report.json, report.md, report.png)."""
    home_service: str = text(HOME, nonempty=True)
    """The arm driver's std_srvs/Trigger that homes the arm (relative names resolve in the
    node's namespace)."""
    home_timeout: float = number(120.0, "positive")
    """Seconds to wait for the driver's home reply before the reset is answered as failed (the
    policy asks again)."""
    camera: str = text("")
    """sensor_msgs/Image topic to film each trial from (trial_<k>.mp4 beside the report, the
    label captioned); empty: no video."""
    video_fps: float = number(5.0, "(0, 30]")
    """Frames a second kept for the video (the camera may send more)."""
    video_width: int = integer(320, ">= 16")
    """px: frames are shrunk to this width (a 10 s trial at 5 fps and 320 px: about 15 MB of
    memory until it is written)."""
