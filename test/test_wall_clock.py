"""The realtime sim bridge's clock: one step per period on time, every missed period made up
after a stall, long stalls not replayed."""

import pytest

from skill_embedding_ros.robots.wall_clock import WallClock

PERIOD = 0.1


def test_one_step_per_tick_on_time_with_jitter():
    clock = WallClock(PERIOD, start=0.0)
    jitter = [0.0, 0.004, 0.019, 0.001, 0.03, 0.0]
    steps = [clock.due(k * PERIOD + j) for k, j in enumerate(jitter, start=1)]
    assert steps == [1] * len(jitter)


def test_a_stall_is_made_up_so_simulated_time_keeps_to_the_wall_clock():
    clock = WallClock(PERIOD, start=0.0)
    assert clock.due(0.1) == 1
    assert clock.due(0.55) == 4  # ticks at 0.2 .. 0.5 were skipped: steps 2..5 now
    assert clock.due(0.6) == 1
    assert clock.due(0.65) == 0  # an extra early wake-up: nothing due yet
    total = 1 + 4 + 1
    assert total * PERIOD == pytest.approx(0.6)
    assert clock.skipped == 0.0


def test_a_stall_beyond_the_limit_is_skipped_not_replayed():
    clock = WallClock(PERIOD, start=0.0, max_catch_up=1.0)
    assert clock.due(0.1) == 1
    assert clock.due(30.1) == 1
    assert clock.skipped == pytest.approx(29.9, abs=PERIOD)
    assert clock.due(30.2) == 1  # on time again from the new anchor


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="period"):
        WallClock(0.0, 0.0)
    with pytest.raises(ValueError, match="max_catch_up"):
        WallClock(PERIOD, 0.0, max_catch_up=0.05)
