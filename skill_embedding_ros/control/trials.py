"""Operator-monitored trials on a robot: the sequence of one trial as a small state machine.

A trial manager node (ros/trial_manager.py) stands in front of the arm driver's reset: when the
policy asks for a new episode it homes the arm, waits for the operator to reset the scene and
confirm, lets the episode run, and asks the operator for a label:

    IDLE --reset--> HOMING --homed--> AWAIT_CONFIRM --confirm--> RUNNING --closing record-->
    AWAIT_LABEL --success/failure/abort--> IDLE (next trial) or DONE (after N trials)

* abort pressed while RUNNING labels the trial abort at once; the episode still ends as the
  policy ends it (its closing record, or an abandoned episode), since the trial manager does not
  command the robot: stopping motion is the safety gate's job (its e-stop). An e-stop latched
  during RUNNING labels the trial abort the same way.
* a reset while RUNNING means the policy abandoned the episode (no closing record): the trial
  ends as abort, unless no record of it arrived yet (the policy asked again before starting: the
  same trial homes again).
* a reset while AWAIT_LABEL waits for the label: the operator judges the final scene before the
  arm moves. A reset while HOMING or AWAIT_CONFIRM is a repeated call and joins the wait.
* confirm is refused while the gate's e-stop is latched (release it first).

Every input returns a `Step`: what the node must do now (home, answer the waiting reset, publish
a label, write the report), or why the input was ignored. Pure: no ROS, no clock of its own
(times are passed in, seconds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from skill_embedding_ros.data import step_record as sr

LABELS = ("success", "failure", "abort")


class Phase(str, Enum):
    IDLE = "idle"  # waiting for the policy's reset: the next trial's start
    HOMING = "homing"  # waiting for the driver's home reply
    AWAIT_CONFIRM = "await_confirm"  # the operator resets the scene, then presses confirm
    RUNNING = "running"  # the episode; ends with the policy's closing record
    AWAIT_LABEL = "await_label"  # the operator presses success, failure or abort
    DONE = "done"  # N trials labelled: further resets are refused


@dataclass
class Trial:
    """One trial: what the report's table shows."""

    trial: int
    """k, 1-based."""
    task: str = ""
    """The task name the policy announced (topic_names.TASK) when it asked for the reset."""
    episode: int = -1
    """The policy's episode counter (its records' `episode`); -1: no record of it arrived."""
    task_id: int = -1
    """The records' task id; -1: no record arrived."""
    label: str = ""
    reason: str = ""
    """Why the label: operator, e-stop, episode abandoned."""
    steps: int = 0
    """Transitions recorded (records before the closing one)."""
    episode_return: float = 0.0
    """Sum of the recorded rewards (the task's reward, not augmented)."""
    interventions: int = 0
    """Steps flagged INTERVENTION (a person or the gate replaced the policy's action)."""
    first_stamp_ns: int | None = None
    last_stamp_ns: int | None = None
    started: float = math.nan
    """s (the caller's clock): the reset call that began the trial."""
    confirmed: float = math.nan
    """s: the operator's confirm (the episode may start)."""
    ended: float = math.nan
    """s: labelled and episode over."""
    closed: bool = False
    """The closing record arrived (the episode is complete, stored by a recorder)."""
    announced: bool = False
    """Its label was handed out for publishing (needs the episode number)."""

    @property
    def intervention_share(self) -> float:
        """Share of the steps flagged INTERVENTION (NaN without steps)."""
        return self.interventions / self.steps if self.steps else math.nan

    @property
    def duration(self) -> float:
        """Seconds of robot time from the first to the closing record (their stamps)."""
        if self.first_stamp_ns is None or self.last_stamp_ns is None:
            return math.nan
        return (self.last_stamp_ns - self.first_stamp_ns) * 1e-9

    def message(self) -> str:
        """The TRIAL_LABEL text (topic_names.TRIAL_LABEL)."""
        return f"trial={self.trial} episode={self.episode} label={self.label}"


@dataclass
class Step:
    """What an input asks of the node (all false: nothing to do)."""

    ignored: str = ""
    """Why the input was ignored ("" when it was taken)."""
    home: bool = False
    """Call the driver's home service now."""
    answer: bool = False
    """Answer the waiting reset call(s) now: with the home reply when `ok`, else `message`."""
    ok: bool = True
    message: str = ""
    labelled: Trial | None = None
    """Publish this trial's label now."""
    finished: Trial | None = None
    """This trial is over (labelled, its episode ended): update the report."""
    done: bool = False
    """The N trials are over: write the report; refuse waiting and further resets."""


@dataclass
class TrialRun:
    """The sequence of `trials` trials (see the module docstring)."""

    trials: int
    phase: Phase = Phase.IDLE
    finished: list[Trial] = field(default_factory=list)
    current: Trial | None = None
    reset_waiting: bool = False
    """A reset call is waiting for an answer (the node holds it)."""
    since_ns: int | None = None
    """Stamp the home reply named: records stamped before it belong to an earlier episode."""
    next_task: str = ""
    """The task named with the latest reset call (the next trial's)."""

    def __post_init__(self):
        if self.trials < 1:
            raise ValueError(f"trials must be >= 1, got {self.trials}")

    @property
    def number(self) -> int:
        """k of the current (or next) trial."""
        return len(self.finished) + 1

    def refusal(self) -> str:
        return f"refused: the {self.trials} trial(s) are over"

    # -- inputs --------------------------------------------------------------------------

    def reset(self, now: float, task: str = "") -> Step:
        """The policy (through the gate) asks for a new episode."""
        if self.phase == Phase.DONE:
            return Step(answer=True, ok=False, message=self.refusal(), done=True)
        self.reset_waiting, self.next_task = True, task
        if self.phase in (Phase.HOMING, Phase.AWAIT_CONFIRM):
            return Step(ignored="a repeated reset call: it waits for the same trial")
        if self.phase == Phase.AWAIT_LABEL:
            return Step(ignored="waiting for the operator's label before homing")
        if self.phase == Phase.RUNNING:
            trial = self.current
            if trial.episode < 0:  # nothing ran: home and confirm the same trial again
                trial.task = task or trial.task
                trial.label = trial.reason = ""  # an abort of the run that never started
                return self._begin(trial)
            return self._end_abandoned(trial, now)
        return self._begin(Trial(trial=self.number, task=task, started=now))

    def homed(self, ok: bool, now: float, stamp_ns: int | None = None, message: str = "") -> Step:
        """The driver's home reply (ok False: failed, timed out or no service)."""
        if self.phase != Phase.HOMING:
            return Step(ignored=f"a home reply while {self.phase.value}")
        if not ok:
            self.phase, self.current = Phase.IDLE, None
            self.reset_waiting = False
            return Step(answer=True, ok=False, message=message or "homing failed")
        self.phase, self.since_ns = Phase.AWAIT_CONFIRM, stamp_ns
        return Step()

    def confirm(self, now: float, estop: bool = False) -> Step:
        """The operator pressed confirm: the scene is reset, the episode may start."""
        if self.phase != Phase.AWAIT_CONFIRM:
            return Step(ignored=f"confirm while {self.phase.value}: nothing to confirm")
        if estop:
            return Step(
                ignored="confirm: the safety gate's e-stop is latched; release it, then confirm"
            )
        self.phase = Phase.RUNNING
        self.current.confirmed = now
        self.reset_waiting = False
        return Step(answer=True)

    def record(self, record: sr.StepRecord, now: float) -> Step:
        """A per-step record of the policy (decoded)."""
        if self.phase != Phase.RUNNING:
            return Step(ignored=f"a record while {self.phase.value}")
        trial = self.current
        if self.since_ns is not None and record.stamp_ns < self.since_ns:
            return Step(ignored="a record stamped before this trial's reset")
        if trial.episode < 0:
            if record.step != 0:
                return Step(ignored="a record of an episode that began before this trial")
            trial.episode, trial.task_id = record.episode, record.task
            trial.first_stamp_ns = record.stamp_ns
        elif record.episode != trial.episode:
            return Step(ignored=f"a record of episode {record.episode}, not {trial.episode}")
        trial.last_stamp_ns = record.stamp_ns
        step = Step()
        if trial.label and not trial.announced:  # aborted before its first record
            trial.announced, step.labelled = True, trial
        if not record.last:
            trial.steps += 1
            trial.episode_return += record.reward
            trial.interventions += bool(record.flags & sr.INTERVENTION)
            return step
        trial.closed = True
        if trial.label:
            return self._finish(trial, now, step)
        self.phase = Phase.AWAIT_LABEL
        return step

    def label(self, name: str, now: float, reason: str = "operator") -> Step:
        """The operator pressed success, failure or abort."""
        if name not in LABELS:
            return Step(ignored=f"unknown label {name!r}: one of {', '.join(LABELS)}")
        trial = self.current
        if self.phase == Phase.RUNNING:
            if name != "abort":
                return Step(
                    ignored=f"{name} while the episode runs: label it when it ends "
                    "(abort is taken at once)"
                )
            if trial.label:
                return Step(ignored="abort: the trial is labelled abort already")
            return self._label(trial, name, reason)
        if self.phase != Phase.AWAIT_LABEL:
            return Step(ignored=f"{name} while {self.phase.value}: no trial to label")
        return self._finish(trial, now, self._label(trial, name, reason))

    def estop(self, now: float) -> Step:
        """The safety gate's e-stop latched."""
        if self.phase != Phase.RUNNING:
            return Step(ignored=f"an e-stop while {self.phase.value}: no episode running")
        return self.label("abort", now, reason="e-stop")

    # -- transitions ---------------------------------------------------------------------

    def _begin(self, trial: Trial) -> Step:
        self.current, self.phase, self.since_ns = trial, Phase.HOMING, None
        return Step(home=True)

    def _label(self, trial: Trial, name: str, reason: str) -> Step:
        trial.label, trial.reason = name, reason
        if trial.episode < 0:
            return Step()  # announced with its first record (the episode number)
        trial.announced = True
        return Step(labelled=trial)

    def _end_abandoned(self, trial: Trial, now: float) -> Step:
        step = Step()
        if not trial.label:
            step = self._label(trial, "abort", "episode abandoned (no closing record)")
        return self._finish(trial, now, step)  # the waiting reset begins the next trial

    def _finish(self, trial: Trial, now: float, step: Step) -> Step:
        trial.ended = now
        self.finished.append(trial)
        self.current = None
        step.finished = trial
        if len(self.finished) >= self.trials:
            self.phase, step.done = Phase.DONE, True
            if self.reset_waiting:
                step.answer, step.ok, step.message = True, False, self.refusal()
            self.reset_waiting = False
            return step
        self.phase = Phase.IDLE
        if self.reset_waiting:  # held during AWAIT_LABEL: the next trial begins now
            next_trial = Trial(trial=self.number, task=self.next_task, started=now)
            step.home = self._begin(next_trial).home
        return step


def prompt(run: TrialRun, buttons: dict[str, str] | None = None) -> str:
    """The one line telling the operator what to do now ("" when nothing is asked)."""
    names = buttons or {}

    def button(role: str) -> str:
        return f"{role} ({names[role]})" if role in names else role

    k = f"trial {run.number}/{run.trials}"
    if run.phase == Phase.AWAIT_CONFIRM:
        return f"{k}: arm homed; reset the scene, then press {button('confirm')}"
    if run.phase == Phase.AWAIT_LABEL:
        choices = ", ".join(button(r) for r in LABELS)
        return f"{k}: episode over; label it: press {choices}"
    return ""


class PressEdges:
    """Button presses from Joy messages: a role counts on its press edge (released -> pressed),
    never while held. Before the first message every button counts as released: a teleop node
    that publishes only on change (a keyboard) may send the press itself first, and at start
    nothing waits for a button anyway."""

    def __init__(self, pressed, roles: tuple[str, ...]):
        self.pressed, self.roles = pressed, roles
        self._held = dict.fromkeys(roles, False)

    def update(self, buttons) -> list[str]:
        """The roles pressed in this message (in `roles` order)."""
        held = {role: bool(self.pressed(buttons, role)) for role in self.roles}
        before, self._held = self._held, held
        return [role for role in self.roles if held[role] and not before[role]]
