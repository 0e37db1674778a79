"""The keyboard teleop node as a real process on a pseudo-terminal: keys typed in, Joy out on
/joy over DDS, laid out as config/teleop/keyboard.yaml says."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from sensor_msgs.msg import Joy

from skill_embedding_ros.control.teleop import load_mapping
from skill_embedding_ros.launch.graph import NodeSpec
from skill_embedding_ros.launch.launcher import node_command
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.processes import REPO, Probe, fresh_domain, ros_env, stop

MAPPING = load_mapping("keyboard")


def _start(domain: int, log, stdin, **params) -> subprocess.Popen:
    spec = NodeSpec("keyboard_teleop", "keyboard_teleop", "", params)
    return subprocess.Popen(
        node_command(spec), env=ros_env(domain), stdin=stdin, stdout=log, stderr=log, cwd=REPO
    )


@pytest.fixture
def keyboard(tmp_path):
    """(the pty's master end, the probe with the Joys it got, the node process, its log)."""
    domain = fresh_domain()
    master, slave = os.openpty()
    log_path = tmp_path / "keyboard.log"
    with open(log_path, "wb") as log:
        proc = _start(domain, log, slave, rate=50.0, first_hold=0.3, hold=0.1)
    os.close(slave)
    probe = Probe(domain)
    joys: list[tuple[float, Joy]] = []
    probe.node.create_subscription(
        Joy, topics.JOY, lambda m: joys.append((time.monotonic(), m)), topics.RELIABLE
    )
    try:
        probe.spin_until(lambda: joys, 20.0, "the first Joy")
        yield master, probe, joys, proc, log_path
    finally:
        probe.close()
        code = stop(proc)
        os.close(master)
        assert code == 0, log_path.read_text()


def _latest(joys) -> Joy:
    return joys[-1][1]


def test_keys_in_joy_out(keyboard):
    master, probe, joys, proc, log_path = keyboard
    idle = _latest(joys)
    assert list(idle.buttons) == [0] * MAPPING.button_count
    assert list(idle.axes) == [0.0] * MAPPING.axis_count
    help_text = log_path.read_text()
    assert "Space  deadman (held)" in help_text and "q/a    axis 0 +/-: joint_1" in help_text

    def until(check, what):
        probe.spin_until(lambda: check(_latest(joys)), 5.0, what)

    # A held key: its character repeated, as a terminal's auto-repeat sends it.
    for _ in range(10):
        os.write(master, b"q")
        probe.spin_for(0.03)
    until(lambda j: j.axes[0] == 1.0, "axis 0 at +1 while q repeats")
    released = time.monotonic()
    until(lambda j: j.axes[0] == 0.0, "axis 0 back at rest once q stops")
    assert time.monotonic() - released < 0.1 + 0.3  # hold, plus the machine's slack

    os.write(master, b"s")
    until(lambda j: j.axes[1] == -1.0, "axis 1 at -1 on s")
    os.write(master, b" ")
    until(lambda j: j.buttons[MAPPING.buttons["deadman"]] == 1, "the deadman held")
    until(lambda j: j.buttons[MAPPING.buttons["deadman"]] == 0, "the deadman released")

    os.write(master, b"\t")  # intervene toggles on, stays on with no key held
    until(lambda j: j.buttons[MAPPING.buttons["intervene"]] == 1, "intervene on")
    probe.spin_for(0.5)
    assert _latest(joys).buttons[MAPPING.buttons["intervene"]] == 1
    os.write(master, b"\t")
    until(lambda j: j.buttons[MAPPING.buttons["intervene"]] == 0, "intervene off")

    os.write(master, b"x")
    until(lambda j: j.buttons[MAPPING.buttons["estop"]] == 1, "the e-stop button")
    os.write(master, b"\r")
    until(lambda j: j.buttons[MAPPING.buttons["confirm"]] == 1, "confirm on Enter")

    # A fixed rate, key or no key: 50 Hz asked, at least half of it on a loaded machine.
    count, start = len(joys), time.monotonic()
    probe.spin_for(1.0)
    assert (len(joys) - count) / (time.monotonic() - start) > 25
    assert proc.poll() is None


def test_stdin_not_a_terminal_is_refused(tmp_path):
    log_path = tmp_path / "keyboard.log"
    with open(log_path, "wb") as log:
        proc = _start(fresh_domain(), log, subprocess.DEVNULL)
    assert proc.wait(30) == 2
    assert "error: keyboard_teleop reads keys from its terminal" in log_path.read_text()
