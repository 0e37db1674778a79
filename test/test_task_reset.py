"""The episode's task reaches the robot's reset (topic_names.TASK): the reply names the task it
reset for, the policy knows the next episode's task before it asks, and the pacing rule moved
out of the node keeps its meaning."""

from __future__ import annotations

from types import SimpleNamespace

from skill_embedding_ros.agent.live_episode import LiveEpisode
from skill_embedding_ros.ros.conversions import (
    reset_reply,
    reset_reply_stamp,
    reset_reply_task,
    to_stamp,
)
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.training.pacing import actor_paced_out


def test_the_reset_reply_names_the_task_and_the_stamp():
    stamp = 3_200_000_000
    for task, named in (("lift", "lift"), ("", ""), (None, None)):
        message = reset_reply(to_stamp(stamp), task)
        assert reset_reply_task(message) == named, message
        assert reset_reply_stamp(message) == stamp, message
    # A driver's reply that names no task and no stamp.
    assert reset_reply_task("reset done") is None and reset_reply_stamp("reset done") is None


def test_the_next_task_is_the_one_the_next_episode_runs():
    class Core:
        def begin(self, env, task):
            self.task = task

    live = LiveEpisode(get_suite("jaco_velocity"), ["push", "lift", "wall"], Core(), False)
    seen = []
    for _ in range(5):
        announced = live.next_task
        assert live.next_task == announced  # asking again (a retried reset) changes nothing
        live.begin()
        seen.append((announced, live.task_name))
    assert all(a == b for a, b in seen)
    assert [b for _, b in seen] == ["push", "lift", "wall", "push", "lift"]


def test_pacing_waits_for_the_learner_only_when_paced():
    train = SimpleNamespace(warmup_steps=100, updates_per_step=0.5)
    caught_up = {"env_steps": 100, "updates": 0}
    behind = {"env_steps": 1100, "updates": 0}  # 1000 steps not yet learned from
    assert not actor_paced_out(None, 0, 2, 2.0, 200, train)  # no learner heard from
    assert not actor_paced_out(behind, 0, 0, 2.0, 200, train)  # actors 0: unpaced
    assert not actor_paced_out(caught_up, 100, 2, 2.0, 200, train)  # 200 < 2 * 2 * 200
    assert actor_paced_out(caught_up, 400, 2, 2.0, 200, train)  # 800 >= 800
    assert actor_paced_out(behind, 0, 2, 2.0, 200, train)
