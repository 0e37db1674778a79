"""Robot topics -> transitions, by time alignment: what a bag without per-step records (a
teleoperated demonstration, a scripted controller, another team's logs) becomes in the store.

Per source (a namespace holding `joint_states`, `commands` and `objects/<name>/pose`):

* States are `joint_states` messages by header stamp, object poses by theirs, synchronised by
  the rule the live skill policy uses (control/state_sync.py `StateSync`, fed in log-time
  order): per control period the state nearest one period after the previous one, within the
  tolerance (default a quarter of the period), each object's pose the nearest within the
  tolerance of it. So a fast joint-state stream is sampled at the suite's control rate; stamps
  going backwards (out of order) or repeating (duplicates: a lockstep bridge re-publishes its
  first state) are dropped; a state without a pose within the tolerance is unmatched.
* The action of state s_k is the last command logged between s_k and s_{k+1} (bag log times:
  commands carry no stamp), clipped to each joint's speed limit from the robot description
  (control/joint_limits.py, as the gate does). No command there, a safety stop (the gate's own
  stop: nobody was commanding) or a malformed one ends the segment, as do a gap (no state
  within the tolerance of a period on), an unmatched or non-finite state and a task change.
* Segments are cut into episodes of at most the suite's episode length; rewards are recomputed
  with the task's pure reward function, r_k = r(s_{k+1}), as the skill policy scores them.

Behaviour probabilities are unknown, so every step stores log b(a|s,z) = log b(z|t) = NaN and the
intervention flag: the learner's trace c_k is then 0 (agent/losses.py importance_weights), which
turns Retrace into the one-step expected-SARSA target there, sound whoever chose the action.
z is zero unless a `label` function (q_psi, data/bags/label.py) names it from the trajectory.

Memory is bounded: one open segment (at most an episode) and the synchroniser's window of recent
states and poses per source.
"""

from __future__ import annotations

import functools
import math
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from skill_embedding_ros.control.joint_limits import commanded_limits
from skill_embedding_ros.control.state_sync import StateSync, SyncedState
from skill_embedding_ros.data.bags.robot_messages import ArrayFields, JointStateFields, PoseFields
from skill_embedding_ros.data.bags.sources import find_sources
from skill_embedding_ros.data.replay import Episode, demonstration
from skill_embedding_ros.tasks.suite import TaskSuite
from skill_embedding_ros.topic_names import (
    COMMANDS,
    JOINT_STATES,
    SAFETY_STOP,
)

MAX_COMMANDS = 10_000  # commands held between two states: memory stays bounded


@dataclass
class AlignConfig:
    """How robot topics are turned into transitions (the ingest CLI maps its flags here)."""

    suite: TaskSuite
    tasks: tuple[str, ...]
    """Task of each task id (the run config's train.tasks): a task name maps to its id."""
    z_dim: int
    task: str | None = None
    """The task of every state in the bag; or read it from `task_topic`."""
    task_topic: str | None = None
    """std_msgs/String topic naming the task; the latest message before a state applies.
    Relative names resolve in each source's namespace."""
    tolerance: float | None = None
    """Seconds: how far an object pose's stamp may lie from the state's, and the slack on the
    control period when sampling states and finding gaps. None: a quarter of the period."""
    min_steps: int = 1
    """Shorter segments are dropped (counted as short_segments)."""
    remap: dict[str, str] = field(default_factory=dict)
    """Relative robot topic name -> the bag's topic, e.g. joint_states -> /arm/joint_states."""
    namespace: str | None = None
    """Only this source's topics; None: every namespace with a joint_states topic."""

    def __post_init__(self):
        if self.task is not None and self.task not in self.tasks:
            raise ValueError(
                f"task {self.task!r} is not one of the run's tasks {list(self.tasks)}"
            )
        self.tolerance_ns  # noqa: B018 (checks the range)

    @property
    def tolerance_ns(self) -> int:
        seconds = self.suite.control_period / 4 if self.tolerance is None else self.tolerance
        if not 0 <= seconds < self.suite.control_period:
            raise ValueError(
                f"tolerance must be in [0, {self.suite.control_period}) s (the control period),"
                f" got {seconds}"
            )
        return round(seconds * 1e9)


@dataclass
class AlignedEpisode:
    """An episode rebuilt from robot topics, with when each of its states was taken."""

    episode: Episode
    source: str
    """Namespace of its topics (the actor), e.g. /actor_0."""
    stamps_ns: np.ndarray
    """[L+1] header stamps of the states."""
    log_ns: np.ndarray
    """[L+1] bag log times of the states."""


class _Command(NamedTuple):
    log_ns: int
    action: np.ndarray | None
    """None: not usable as an action (a safety stop, malformed, non-finite)."""


class _Tag(NamedTuple):
    """What a joint state carries through the synchroniser: when it was logged, and the task
    current then."""

    log_ns: int
    task: str | None


class SourceAligner:
    """One source's streams -> its episodes; feed messages in log-time order."""

    def __init__(self, source: str, cfg: AlignConfig, counts: Counter, problems: dict):
        self.source, self.cfg, self.suite = source, cfg, cfg.suite
        self.counts, self.problems = counts, problems
        self.task = cfg.task
        period = round(self.suite.control_period * 1e9)
        self.sync = StateSync(period, cfg.tolerance_ns, self.suite.objects, counts=counts)
        self._notes = 0  # how many of the sync's notes are in `problems`
        self.kept: SyncedState | None = None  # the newest synchronised state
        self.commands: deque[_Command] = deque(maxlen=MAX_COMMANDS)  # logged since `kept`
        self.command: np.ndarray | None = None  # the action of `kept`, once known
        self.commanded = False
        self.observer = self.suite.observer()
        self.joint_set = frozenset(self.suite.joints)
        _, limits = commanded_limits(self.suite.description(), self.suite.joints)
        # The clip's bounds as Python floats: on a few values, min and max beat numpy's calls.
        self.speed = [float(lim.velocity) for lim in limits]
        self.slowest = [-v for v in self.speed]
        self.action_dim = self.suite.action_dim
        self._new_segment()

    def _new_segment(self) -> None:
        self.observer.reset()  # a stateful observer (e.g. velocity from poses) starts afresh
        self.obs: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.stamps: list[int] = []
        self.logs: list[int] = []
        self.segment_task: str | None = None

    def _problem(self, kind: str, text: str) -> None:
        self.counts[kind] += 1
        self.problems.setdefault(kind, f"{self.source}: {text}")

    # -- inputs (log-time order) ------------------------------------------------------------

    def handler(self, role: str) -> Callable[[int, object], list[AlignedEpisode]]:
        """Where a message of `role` goes: (log time, its fields) -> the episodes it ends."""
        if role == JOINT_STATES:
            return self.on_joint_state
        if role == COMMANDS:
            return self.on_command
        if role == "task":
            return self.on_task
        return functools.partial(self.on_pose, role.split("/")[1])

    def on_task(self, log_ns: int, name: str) -> list[AlignedEpisode]:
        self.task = name
        return []

    def on_pose(self, name: str, log_ns: int, msg: PoseFields) -> list[AlignedEpisode]:
        pose = (np.array(msg.position), np.array(msg.orientation))
        return self._synced(self.sync.add_pose(name, msg.stamp_ns, pose))

    def on_command(self, log_ns: int, msg: ArrayFields) -> list[AlignedEpisode]:
        if self.kept is None:
            self.counts["commands_unmatched"] += 1  # before any state: acts on nothing we have
            return []
        data = msg.data
        action = None
        if msg.labels and msg.labels[0] == SAFETY_STOP:
            self.counts["safety_stops"] += 1
        elif len(data) != self.action_dim:
            self._problem(
                "malformed",
                f"command of {len(data)} values, the suite has {self.action_dim} joints",
            )
        elif not all(map(math.isfinite, data)):
            self._problem("non_finite", f"command {list(data)}")
        else:
            action = self.suite.action(list(map(min, map(max, data, self.slowest), self.speed)))
        self.commands.append(_Command(log_ns, action))
        return []

    def on_joint_state(self, log_ns: int, msg: JointStateFields) -> list[AlignedEpisode]:
        # Python floats, as a live node gets them (and cheaper than numpy scalars downstream).
        positions = dict(zip(msg.names, msg.positions, strict=False))
        velocities = dict(zip(msg.names, msg.velocities, strict=False))
        tag = _Tag(log_ns, self.task)
        return self._synced(self.sync.add_joint_state(msg.stamp_ns, positions, velocities, tag))

    def finish(self) -> list[AlignedEpisode]:
        """End of the bag: the last states close their segment."""
        out = self._synced(self.sync.flush())
        if self.kept is not None:
            out += self._close(self.kept, False)
        self.kept = None
        return out

    def _synced(self, states: list[SyncedState]) -> list[AlignedEpisode]:
        if len(self.sync.notes) > self._notes:  # a new kind of dropped state: its first example
            for kind, text in self.sync.notes.items():
                self.problems.setdefault(kind, f"{self.source}: {text}")
            self._notes = len(self.sync.notes)
        out = []
        for state in states:
            if self.kept is None:
                self.kept = state
            else:
                out += self._advance(state)
        return out

    def _advance(self, state: SyncedState) -> list[AlignedEpisode]:
        """`state` follows `kept`: `kept`'s action is the last command logged between them."""
        log_ns, commands = state.tag.log_ns, self.commands
        last, before = None, 0
        while commands and commands[0].log_ns < log_ns:  # logged in order: a prefix
            last, before = commands.popleft(), before + 1
        self.commanded = before > 0
        self.command = None if last is None else last.action
        self.counts["commands_superseded"] += max(0, before - 1)
        out = self._close(self.kept, state.continuous)
        self.kept = state
        return out

    # -- segments ---------------------------------------------------------------------------

    def _close(self, state: SyncedState, continued: bool) -> list[AlignedEpisode]:
        """`state`'s observation and outgoing action are known now: extend the segment.
        `continued`: the next state follows it by one period (no gap, none dropped)."""
        obs = self._observe(state)
        out: list[AlignedEpisode] = []
        if obs is None:
            return self._end()
        task = state.tag.task
        if self.obs and task != self.segment_task:
            self.counts["task_changes"] += 1
            out += self._end()
        if not self.obs:
            self.segment_task = task
        self.obs.append(obs)
        self.stamps.append(state.stamp_ns)
        self.logs.append(state.tag.log_ns)
        if len(self.obs) == self.suite.episode_steps + 1:
            out.append(self._episode(len(self.obs)))
            self.obs, self.stamps, self.logs = self.obs[-1:], self.stamps[-1:], self.logs[-1:]
            self.actions = []
        if not continued:  # the end, a gap or an unmatched state (counted by the sync)
            return out + self._end()
        if self.command is None:
            if not self.commanded:
                self.counts["steps_without_command"] += 1
            return out + self._end()
        self.actions.append(self.command)
        return out

    def _end(self) -> list[AlignedEpisode]:
        """Close the open segment; an action leading to a state that did not join is dropped."""
        if self.obs and len(self.actions) == len(self.obs):
            self.actions.pop()
        n = len(self.actions)
        out = []
        if n >= max(1, self.cfg.min_steps):
            out.append(self._episode(n + 1))
        elif n:
            self.counts["short_segments"] += 1
        self._new_segment()
        return out

    def _episode(self, n_obs: int) -> AlignedEpisode:
        task = self.segment_task
        obs = np.array(self.obs[:n_obs], np.float32)
        n = n_obs - 1
        episode = demonstration(
            obs,
            np.array(self.actions[:n]),
            self.suite.reward(task, obs[1:]),
            self.cfg.tasks.index(task),
            self.cfg.z_dim,
        )
        return AlignedEpisode(
            episode,
            self.source,
            np.asarray(self.stamps[:n_obs], np.int64),
            np.asarray(self.logs[:n_obs], np.int64),
        )

    def _observe(self, state: SyncedState) -> np.ndarray | None:
        """The state's observation, or None (counted) if it cannot be built."""
        task, stamp = state.tag.task, state.stamp_ns
        if task is None:
            self._problem("no_task", f"state at {stamp} ns before any task message")
            return None
        if task not in self.cfg.tasks:
            self._problem("unknown_task", f"task {task!r} is not in {list(self.cfg.tasks)}")
            return None
        joints = self.suite.joints
        if not state.positions.keys() >= self.joint_set <= state.velocities.keys():
            missing = [j for j in joints if j not in state.positions or j not in state.velocities]
            self._problem(
                "missing_joints",
                f"joint_states lacks position or velocity of {missing} "
                f"(has {sorted(state.positions)}; the suite needs {list(joints)})",
            )
            return None
        try:
            # The suite's observer checks finiteness after the float32 cast, so a huge float64
            # (a flipped exponent bit) is caught as well as a NaN or an inf.
            return self.observer(state.positions, state.velocities, state.poses, stamp)
        except ValueError as err:
            self._problem("non_finite", f"state at {stamp} ns: {err}")
            return None


class RobotAligner:
    """Every source of one bag: route its messages (log-time order), collect episodes."""

    def __init__(self, bag_topics: dict[str, str], cfg: AlignConfig):
        self.cfg = cfg
        self.counts: Counter[str] = Counter()
        self.problems: dict[str, str] = {}
        """First example of each kind of problem, for the summary."""
        self.sources = find_sources(bag_topics, cfg)
        self._aligners = []
        self._routes: dict[str, list[tuple[str, Callable]]] = {}
        for ns, roles in self.sources.items():
            aligner = SourceAligner(ns, cfg, self.counts, self.problems)
            self._aligners.append(aligner)
            for role, topic in roles.items():
                route = (f"messages {role}", aligner.handler(role))  # made once, used per message
                self._routes.setdefault(topic, []).append(route)
        self.types = {topic: bag_topics[topic] for topic in self._routes}
        """The topics to read, with their types."""

    def feed(self, topic: str, log_ns: int, msg) -> list[AlignedEpisode]:
        """`msg`: the topic's fields as data/bags/robot_messages.py decodes them."""
        routes = self._routes[topic]
        if len(routes) == 1:  # the usual case: one source reads the topic
            counter, handle = routes[0]
            self.counts[counter] += 1
            return handle(log_ns, msg)
        out = []
        for counter, handle in routes:
            self.counts[counter] += 1
            out += handle(log_ns, msg)
        return out

    def finish(self) -> list[AlignedEpisode]:
        return [e for aligner in self._aligners for e in aligner.finish()]


def label_episodes(
    episodes: list[AlignedEpisode], label: Callable[[Episode], np.ndarray] | None
) -> None:
    """Give each episode the z that `label` (q_psi) infers from it, held for the episode."""
    if label is None:
        return
    for item in episodes:
        z = np.asarray(label(item.episode), np.float32)
        item.episode.z = np.broadcast_to(z, item.episode.z.shape).copy()
