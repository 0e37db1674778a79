"""The keyboard teleop node's parameters (ros/params.py declares them)."""

from __future__ import annotations

from dataclasses import dataclass

from skill_embedding_ros.settings.base import Settings, number, text


@dataclass
class KeyboardTeleopConfig(Settings):
    """Keyboard teleop node: keys to sensor_msgs/Joy for machines without a joystick."""

    mapping: str = text("keyboard", nonempty=True)
    """Teleop mapping (config/teleop/<name>.yaml, or a YAML path) whose layout the Joy follows:
    its buttons' indices and its axes' count; the gate and trial manager read the same one."""
    rate: float = number(20.0, "positive")
    """Hz at which the Joy is published, key or no key (the gate counts a Joy older than the
    mapping's `timeout` as everything released)."""
    first_hold: float = number(0.6, "positive")
    """Seconds a key counts as held after its first press: longer than the terminal's delay
    before it auto-repeats (typically 0.25-0.6 s), or a held key flickers."""
    hold: float = number(0.15, "positive")
    """Seconds a key counts as held after each auto-repeat: longer than the repeat interval
    (typically 0.03-0.05 s). Terminals send no key-up: a released key reads held this long."""
