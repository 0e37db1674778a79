"""The learner node's loop, in process: it trains at its busy tick while updates are owed and
sleeps between its idle ticks while none are (the graphs' tests train through it end to end)."""

from __future__ import annotations

import time

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor

from skill_embedding_ros.ros import learner_node
from skill_embedding_ros.ros.learner_node import BUSY_TICK_S, IDLE_TICKS_PER_SCAN, LearnerNode
from skill_embedding_ros.ros.processes import fresh_domain


@pytest.fixture
def node(tmp_path, monkeypatch):
    wakes = []
    work = LearnerNode.work

    def counted(self):  # the timers hold the method they were made with: patch it before
        wakes.append(1)
        work(self)

    monkeypatch.setattr(LearnerNode, "work", counted)
    store, out = tmp_path / "store", tmp_path / "run"
    args = ["--ros-args", "-p", f"store:={store}", "-p", f"out:={out}"]
    rclpy.init(args=args, domain_id=fresh_domain())
    try:
        made = LearnerNode()
        made.wakes = wakes
        yield made
        made.destroy_node()
    finally:
        rclpy.shutdown()


def _spin(node, seconds: float) -> int:
    """Spin the node for `seconds`; how many times its loop ran."""
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    before, end = len(node.wakes), time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.01)
    executor.remove_node(node)
    return len(node.wakes) - before


def test_a_learner_with_nothing_owed_wakes_at_its_idle_tick(node):
    _spin(node, 0.2)  # its first loop finds nothing owed (an empty store)
    assert node.busy.is_canceled()
    wakes = _spin(node, 1.0)
    assert wakes <= 2 * IDLE_TICKS_PER_SCAN / node.cfg.scan_period, wakes  # the busy tick: 1,000


def test_owed_updates_wake_the_busy_tick_until_none_are(node, monkeypatch):
    owed = [0]
    monkeypatch.setattr(node.core, "owed", lambda: owed[0])
    # Updates that take the loop's whole budget and leave the count as it was.
    monkeypatch.setattr(learner_node, "UPDATE_BUDGET_S", 0.0)
    _spin(node, 0.2)
    assert node.busy.is_canceled()
    owed[0] = 300  # a scan found new steps
    node.work()  # as the idle tick would
    assert not node.busy.is_canceled()
    # The busy tick runs: about 500 loops, against 5 of the idle tick. Ten times the idle
    # tick's loops tells the two apart with room for a loaded machine's late timers.
    idle_loops = 0.5 * IDLE_TICKS_PER_SCAN / node.cfg.scan_period
    assert 50 * idle_loops < 0.5 / BUSY_TICK_S  # the bound below is far from both
    assert _spin(node, 0.5) > 10 * idle_loops
    owed[0] = 0  # caught up
    _spin(node, 0.1)
    assert node.busy.is_canceled()
    assert _spin(node, 0.5) <= 2 * idle_loops
