"""One actor's episodes on a robot, message by message: the skill-policy node's logic, ROS-free.

Per synchronised state s_k (control/state_sync.py): the reward of the previous step,
r_{k-1} = r(s_k), completes its record; then the actor core (agent/actor.py) acts. What the robot
executed for step k arrives separately (the safety gate's `executed` answer, named by s_k's
stamp), before or after s_{k+1}: a record goes out only once that answer is in, so records
leave in step order, each settled by it (agent/actor.py `settle`): the policy's proposal where the
command was its own, limited or not; what went out, flagged, where someone else's was.

Tasks come in turn (task = episode index mod T), so every task gets the same share of episodes
from every actor.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from skill_embedding_ros.agent.actor import ActorCore, settle
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.tasks.suite import TaskSuite


@dataclass
class _Pending:
    """Step k's record, until both its reward and the gate's answer are in."""

    record: sr.StepRecord
    answered: bool = False
    """The gate's answer (what the robot executed) is in, and the record settled by it."""
    complete: bool = False
    """Its reward (from s_{k+1}) is in."""


class LiveEpisode:
    """The episode state of one actor on one robot."""

    def __init__(self, suite: TaskSuite, tasks: list[str], core: ActorCore, evaluation: bool):
        self.suite, self.tasks, self.core = suite, list(tasks), core
        self.flags = sr.EVALUATION if evaluation else 0
        self.episode = -1
        self.step = 0
        self.task = 0
        self.episode_return = 0.0
        self.observations: list[np.ndarray] = []
        self._steps: deque[_Pending] = deque()  # awaiting release, in step order
        self._done: list[sr.StepRecord] = []

    @property
    def task_name(self) -> str:
        return self.tasks[self.task]

    @property
    def next_task(self) -> str:
        """The task of the episode `begin` starts next (the robot resets for it first)."""
        return self.tasks[(self.episode + 1) % len(self.tasks)]

    def begin(self) -> None:
        """The next episode, whose first state comes next."""
        self.episode += 1
        self.step = 0
        self.task = self.episode % len(self.tasks)
        self.episode_return = 0.0
        self.observations = []
        self._steps.clear()
        self.core.begin(0, self.task)

    def on_state(self, obs: np.ndarray, stamp_ns: int) -> np.ndarray | None:
        """s_k of this episode -> the action to send, or None when s_k ends the episode."""
        if self._steps and not self._steps[-1].complete:
            last = self._steps[-1]
            last.record.reward = float(self.suite.reward(self.task_name, obs))
            last.complete = True
            self.episode_return += last.record.reward
        self.observations.append(obs)
        if self.step == self.suite.episode_steps:
            closing = sr.closing_record(
                stamp_ns,
                self.episode,
                self.step,
                self.task,
                obs,
                self.suite.action_dim,
                self.core.z.shape[1],
                self.flags,
            )
            self._steps.append(_Pending(closing, answered=True, complete=True))
            return None
        d = self.core.act(np.asarray(obs, np.float32)[None])
        record = sr.StepRecord(
            stamp_ns=stamp_ns,
            episode=self.episode,
            step=self.step,
            task=self.task,
            obs=obs,
            action=d.action[0],
            reward=float("nan"),
            z=d.z[0],
            log_b_z=float(d.log_b_z[0]),
            log_b_a=float(d.log_b_a[0]),
            flags=self.flags | (sr.Z_DRAWN if d.z_drawn[0] else 0),
        )
        self._steps.append(_Pending(record))
        self.step += 1
        return d.action[0]

    def on_executed(self, stamp_ns: int, executed: np.ndarray, takeover: bool) -> bool:
        """The robot executed `executed` (as an action) for the step acted at `stamp_ns`;
        `takeover`: someone else's command (False: the policy's own, limited by the gate).
        False when no step of this episode has that stamp (a late answer: ignore it)."""
        for pending in self._steps:
            if pending.record.stamp_ns == stamp_ns and not pending.answered:
                record = pending.record
                record.action, record.log_b_a, intervened = settle(
                    record.action, record.log_b_a, executed, takeover=takeover
                )
                record.flags |= sr.INTERVENTION if intervened else 0
                pending.answered = True
                return True
        return False

    def released(self) -> list[sr.StepRecord]:
        """Records now complete, in step order (a step waits for both s_{k+1} and the gate's
        answer, and holds back the steps after it)."""
        out = []
        while self._steps and self._steps[0].complete and self._steps[0].answered:
            out.append(self._steps.popleft().record)
        return out

    @property
    def waiting(self) -> int:
        """Records held back for an executed action."""
        return sum(not p.answered for p in self._steps)

    def outcome(self) -> int:
        """The suite's outcome of the episode so far (-1: not solved)."""
        trajectory = np.stack(self.observations)[None]
        return int(self.suite.outcomes(self.task_name, trajectory)[0])
