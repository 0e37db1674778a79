"""Keyboard teleop node: keys from its own terminal -> sensor_msgs/Joy on /joy at a fixed rate,
laid out as a teleop mapping says (config/teleop/keyboard.yaml by default), for machines
without a joystick. The safety gate and the trial manager read the Joy as from a pad.

Run it in a terminal of its own (`ros2 run skill_embedding_ros keyboard_teleop`): it reads that
terminal's keys (no echo, no line buffering, Ctrl-C still quits) and refuses to start when stdin
is not a terminal (a launch file's node has none). Which keys, and how long a key counts as held
(terminals send repeats, not key-ups): control/keyboard_joy.py; it prints them on start.
"""

from __future__ import annotations

import os
import sys
import termios
import time

from rclpy.node import Node
from sensor_msgs.msg import Joy

from skill_embedding_ros.control.keyboard_joy import KeyboardJoy
from skill_embedding_ros.control.teleop import load_mapping
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.settings.teleop import KeyboardTeleopConfig


class KeyboardTeleop(Node):
    def __init__(self):
        super().__init__("keyboard_teleop")
        config = declare(self, KeyboardTeleopConfig)
        try:
            self.keys = KeyboardJoy(load_mapping(config.mapping), config.first_hold, config.hold)
        except ValueError as err:
            raise SystemExit(f"error: mapping: {err}") from None
        self._fd = sys.stdin.fileno()
        if not os.isatty(self._fd):
            raise SystemExit(
                "error: keyboard_teleop reads keys from its terminal, but its stdin is not a "
                "terminal: run it in a terminal of its own (ros2 run skill_embedding_ros "
                "keyboard_teleop), not from a launch file"
            )
        self._saved = termios.tcgetattr(self._fd)
        raw = termios.tcgetattr(self._fd)
        raw[3] &= ~(termios.ICANON | termios.ECHO)  # ISIG stays: Ctrl-C quits
        raw[6][termios.VMIN], raw[6][termios.VTIME] = 0, 0  # reads return at once
        termios.tcsetattr(self._fd, termios.TCSANOW, raw)
        self._joy = self.create_publisher(Joy, topics.JOY, topics.RELIABLE)
        print(self.keys.help(), flush=True)
        self.create_timer(1.0 / config.rate, self._on_timer)

    def _on_timer(self) -> None:
        seconds = time.monotonic()  # key timing: steady, whatever the node clock does
        try:
            typed = os.read(self._fd, 1024).decode(errors="replace")
        except OSError as err:  # the terminal went away: stop, so the Joy goes stale
            self.get_logger().error(f"cannot read the terminal ({err}); exiting")
            self.exit_code = 0
            return
        for char in typed:
            change = self.keys.key(char, seconds)
            if change:
                print(change, flush=True)
        buttons, axes = self.keys.joy(seconds)
        msg = Joy(buttons=buttons, axes=axes)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = "keyboard"
        self._joy.publish(msg)

    def close(self) -> None:
        """Give the terminal back as it was."""
        termios.tcsetattr(self._fd, termios.TCSANOW, self._saved)


def main(args=None):
    return spin(KeyboardTeleop, args)


if __name__ == "__main__":
    sys.exit(main())
