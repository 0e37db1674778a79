"""The safety gate's logic, free of ROS: every command to the robot passes through `Gate`.

Time is passed in (seconds on one steady clock), never read here, so tests drive the watchdog
period by period and the node decides which clock is safe to trust.

What goes out, in order of precedence:
* e-stop latched: a stop (zeros), for every command and every tick, until `release_estop()`;
* late (realtime: the timing the account rests on was seen to fail, control/latency.py): a stop
  for every command and every tick, until timing has held again for a while;
* stale (no valid policy command for `stale_periods` control periods): a stop at every tick,
  so a robot driver that holds the last command it got stops too. In lockstep the policy owes a
  command only once the robot has shown the last one: a simulator that has not stepped yet
  leaves it nothing to answer (and a stop sent between a command and the state it causes would
  read, in a bag of the run, as that step's action);
* refused (non-finite, wrong length, or no usable joint state to check it against): a stop in
  place of the command;
* otherwise the command, limited so that no joint can pass a position limit: a velocity is
  clipped to the velocity limit and slowed near a position limit; a position target is kept
  inside the limits and moves at most at the velocity limit; an effort (control/torque.py) is
  clipped to the effort limit and to the efforts that keep the joint inside its position and
  velocity limits (brakes pass; zero effort always does).
A stop is zero velocity or zero effort, or for position targets the last target again; none goes
out for targets while a reset is under way (one from before the jump would pull the robot back).

Input queue: commands are taken one by one as they arrive, however many and from however many
publishers; none is dropped or merged. Each is limited against where the joints may be once it
lands: the latest joint state plus every command sent since that the state may not show yet,
zeros included (control/reach.py keeps that account). A burst therefore gets less room with every
command, never a fresh allowance.

Teleop (control/teleop_gate.py) sends the operator's commands through `command` (the same limits,
account, watchdog, e-stop; `from_velocity`); a released deadman answers with stops (`hold`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from skill_embedding_ros.control.gate_mode import GateState, Mode
from skill_embedding_ros.control.joint_limits import JointLimit
from skill_embedding_ros.control.joint_states import JointPicker
from skill_embedding_ros.control.latency import RECOVERY_PERIODS, Timing
from skill_embedding_ros.control.reach import Reach, limit_position, limit_velocity
from skill_embedding_ros.control.torque import TorqueJoints
from skill_embedding_ros.settings.nodes import GateConfig

MAX_IN_FLIGHT = 8
"""lockstep: commands sent that no joint state has shown yet, beyond which the gate drops further
policy commands (counted, nothing sent) until the robot catches up. A lockstep robot steps once
per command, so a flood would otherwise pile up in its reliable queue (depth 10) until DDS drops
some, and the gate's account (control/reach.py) would no longer match what the robot ran."""


class Gate:
    """Limits, watchdog and e-stop between the policy's commands and the robot.

    Methods that return an array return what must be sent to the robot now, one value per
    joint in `joints` order; None means nothing to send (no change needed, or the joints are not
    known yet: no limits from the robot description).
    """

    def __init__(self, config: GateConfig, now: float, estop: bool = False):
        """`now`: start time (s); with no command at all, the watchdog counts from here, so a
        restarted gate also stops a robot still holding a command from before. `estop`: start
        latched (a latch that outlived a restart). `config` is checked by GateConfig itself."""
        self.config = config
        self.stale_after = config.stale_after
        """Seconds without a valid policy command after which the gate stops the robot."""
        self.tick_period = config.tick_period
        """Seconds between `tick()` calls the watchdog timing assumes."""
        self.joints: tuple[str, ...] = ()
        """The commanded joints, in the order of every command in and out."""
        self.reach: Reach | None = None
        self.torque: TorqueJoints | None = None
        """torque interface: the joints' limits and dynamics."""
        self._picker: JointPicker | None = None
        self._lower = self._upper = self._speed = np.zeros(0)
        self._positions: np.ndarray | None = None
        self._target: np.ndarray | None = None
        """position interface: the last target sent, and when (s)."""
        self._target_time = now
        self._state_problem = ""
        self._last_valid = now
        self._state_time = now
        """When the latest joint state arrived (s)."""
        self._stale = False
        self._refusal = ""
        self._estop = estop
        self._resetting = False
        self._reset_since = now
        self._reset_stamp: int | None = None
        self._stamp = -1
        """The latest joint state's stamp (ns)."""
        self.timing = Timing(config) if config.stepping == "realtime" else None
        """realtime: the measured timing (a lockstep robot waits for each command)."""
        self._forwarded = self._clipped = self._refused = self._stops = self._dropped = 0

    # inputs

    def set_limits(self, joints: Sequence[str], limits: Sequence[JointLimit]) -> None:
        """The commanded joints (in command order) and their limits, from the robot description
        (control/joint_limits.py). Until then every command is refused. torque interface: a
        ValueError names each joint that lacks what it needs (inertia, damping, effort and
        velocity limits); the gate then keeps what it had."""
        speeds = np.array([lim.velocity for lim in limits], float)
        lags = np.array([lim.lag for lim in limits], float)
        torque = None
        if self.config.command_interface == "torque":
            torque = TorqueJoints.of(joints, limits)
            # The account runs on the velocities the efforts drive the joints toward.
            speeds, lags = torque.target_speed, torque.lag
        self.torque = torque
        self.joints = tuple(joints)
        self._picker = JointPicker(joints)
        self._lower = np.array([lim.lower for lim in limits], float)
        self._upper = np.array([lim.upper for lim in limits], float)
        self._speed = np.array([lim.velocity for lim in limits], float)
        self.reach = Reach(self.config, speeds, lags)
        self._positions = None

    def joint_state(
        self,
        names: Sequence[str],
        positions: Sequence[float],
        now: float,
        velocities: Sequence[float] = (),
        stamp: int | None = None,
    ) -> None:
        """A joint state arrived at `now` (s), as a JointState has it: joint names in any order
        (extras ignored), positions (m or rad), velocities if any; `stamp`: its header stamp (ns).
        """
        self._stamp = stamp if stamp is not None else self._stamp
        self._state_time = now
        jumped = self._resetting  # a reset may have moved the robot anywhere
        self._end_reset_if_shown()
        if self._picker is None:
            return
        missing = self._picker.missing(names)
        if missing:
            self._state_problem = f"joint_states lacks joints {missing} (it has {list(names)})"
            return
        x = self._picker.pick(names, positions)
        if x is None:
            self._state_problem = (
                f"joint_states has {len(positions)} positions for {len(names)} names"
            )
            return
        v = self._picker.pick(names, velocities)
        self._positions = x
        finite = np.isfinite(x).all() and (v is None or np.isfinite(v).all())
        self._state_problem = "" if finite else "latest joint state is not finite"
        if v is None and self.torque is not None:
            # An effort's safe range depends on how fast the joint already moves.
            self._state_problem = (
                "joint_states carries no velocity (the torque interface needs it)"
            )
        elif finite:
            age = None
            if self.timing is not None:
                age = self.timing.state_age(stamp, now)
                # Not across a reset (the robot jumps), nor for targets (the account holds no
                # motion for them: a position servo moves toward its target on its own).
                if not jumped and self.config.command_interface != "position":
                    self.timing.check_reach(self.reach, self.joints, x, v, now)
            self.reach.observe(x, v, now, stamp, age)

    def command(self, command: Sequence[float], now: float, hold=False) -> np.ndarray | None:
        """A policy command arrives at `now` (s): one value per joint in `joints` order, a
        velocity, position target or effort by `command_interface`; returns what to send.
        `hold`: answer a valid command with a stop (teleop: the deadman is released)."""
        command = np.asarray(command, dtype=float)
        reason = self._refusal_reason(command)
        if reason:
            self._refused += 1
            self._refusal = reason
            return self._answer(None, now)
        self._refusal = ""
        self._last_valid = now
        self._stale = False
        if self._resetting and self.config.stepping == "lockstep":
            self._dropped += 1
            return None
        if self._estop or self._resetting or self._late(now) or hold:
            return self._answer(None, now)
        limited = self._answer(self.limit(command, now), now)
        if limited is not None:
            self._forwarded += 1
            self._clipped += int(not np.array_equal(limited, command))
        return limited

    def _answer(self, limited: np.ndarray | None, now: float) -> np.ndarray | None:
        """What goes out in answer to a policy command: `limited`, or a stop when None. In
        lockstep nothing goes out while MAX_IN_FLIGHT commands are unanswered (counted as
        dropped): a flood, stops included, must not overrun the robot's queue."""
        if self.reach is None:
            return None
        if self.config.stepping == "lockstep" and self.reach.unconfirmed >= MAX_IN_FLIGHT:
            self._dropped += 1
            return None
        if limited is None:
            return self._stop(now, own=False)
        self._record(limited, now)
        return limited

    def _record(self, sent: np.ndarray, now: float) -> None:
        """Account for what was sent: velocities move the joints (control/reach.py); a position
        target is where they go, and a step of the robot all the same; an effort drives each
        joint toward the velocity effort / damping (control/torque.py)."""
        if self.config.command_interface == "position":
            self._target, self._target_time = sent, now
            sent = np.zeros_like(sent)
        elif self.torque is not None:
            sent = self.torque.target(sent)
        self.reach.sent(sent, now)

    def tick(self, now: float) -> np.ndarray | None:
        """Watchdog check, called every `tick_period` s: a stop while stale, late or e-stopped."""
        if self.timing is not None:
            gap = self.timing.tick(now)
            if self.reach is not None:  # a command is held until the watchdog's stop lands
                self.reach.watchdog_gap = gap
        self._stale = self._owed_for(now) > self.stale_after
        if self._estop or self._stale or self._late(now):
            return self._stop(now, own=True)
        return None

    def _owed_for(self, now: float) -> float:
        """Seconds the policy has owed a command: since its last valid one; in lockstep since
        the latest state if that came later, and none while the robot has not shown every
        command sent (see the module docstring)."""
        if self.config.stepping == "realtime" or self.reach is None:
            return now - self._last_valid
        if self.reach.unconfirmed:
            return 0.0
        return now - max(self._last_valid, self._state_time)

    def _late(self, now: float) -> bool:
        return self.timing is not None and self.timing.check(now)

    def latch_estop(self, now: float) -> np.ndarray | None:
        """Latch the e-stop; returns the stop to send at once. Only `release_estop` undoes it."""
        self._estop = True
        return self._stop(now, own=True)

    def stop(self, now: float) -> np.ndarray | None:
        """A stop on the gate's own initiative, like the watchdog's (teleop: deadman released)."""
        return self._stop(now, own=True)

    def from_velocity(self, velocity: np.ndarray, now: float) -> np.ndarray | None:
        """The command moving the joints at `velocity` (teleop): itself; a target that far on for
        the time since the last (<= a period); damping x velocity. None while none can pass."""
        if self._refusal_reason(np.zeros(len(self.joints))):
            return None
        if self.config.command_interface == "position":
            last, since = self._target, min(now - self._target_time, self.config.control_period)
            if last is None:
                last, since = self._positions, self.tick_period
            return last + velocity * max(since, 0.0)
        return velocity if self.torque is None else self.torque.damping * velocity

    def begin_reset(self, now: float) -> None:
        """An episode reset is wanted (the robot will jump to a new start). From now until the
        robot's new state arrives, policy commands go no further (lockstep: nothing is sent;
        realtime: stops), since a command limited against the old state could act after the
        jump. Ask the robot only once `ready_to_reset`, then call `reset_sent`."""
        self._resetting = True
        self._reset_since = now
        self._reset_stamp = None

    def ready_to_reset(self, now: float) -> bool:
        """Whether every command sent before the reset has acted: lockstep, the robot has
        answered them all; realtime, the last one has landed (and the robot drops what it holds
        when it resets), which needs the timing to hold: not while late."""
        if self.config.stepping == "lockstep":
            return self.reach is None or self.reach.unconfirmed == 0
        return now - self._reset_since >= self.config.state_latency and not self._late(now)

    def reset_sent(self, now: float) -> None:
        """The robot was asked to reset: a lockstep robot steps once for it, moving nothing."""
        if self.config.stepping == "lockstep" and self.reach is not None:
            self.reach.sent(np.zeros(len(self.joints)), now)

    def reset_done(self, ok: bool, stamp: int | None) -> None:
        """The robot answered the reset: `stamp` (ns) is its new state's, if it said (else the
        next state counts). A failed reset moved nothing: commands flow again."""
        if not ok:
            self._resetting = False
            return
        self._reset_stamp = stamp if stamp is not None else self._stamp + 1
        self._end_reset_if_shown()

    def _end_reset_if_shown(self) -> None:
        if self._resetting and self._reset_stamp is not None and self._stamp >= self._reset_stamp:
            self._resetting = False
            self._target = None  # after the jump, targets start from the new state

    def release_estop(self) -> bool:
        """Release the e-stop; returns whether it was latched. Commands flow again from the next
        valid policy command on (the watchdog still applies)."""
        was_latched = self._estop
        self._estop = False
        return was_latched

    # limits

    def limit(self, command: np.ndarray, now: float) -> np.ndarray:
        """`command` within the limits, from where the joints may be when it lands (see
        control/reach.py). Assumes `_refusal_reason(command)` is empty."""
        if self.config.command_interface == "position":
            # The target moves at most at the speed limit: per period in lockstep (one command,
            # one step), per second since the last target in real time (a burst of targets
            # must not add up to a jump).
            start = self._positions if self._target is None else self._target
            seconds = self.config.control_period
            if self.config.stepping == "realtime" and self._target is not None:
                seconds = min(seconds, max(now - self._target_time, 0.0))
            return limit_position(command, start, self._speed * seconds, self._lower, self._upper)
        lowest, highest, horizon = self.reach.bounds(now)
        if self.torque is not None:
            v_low, v_high = self.reach.velocity_bounds(now)
            return self.torque.limit(command, lowest, highest, v_low, v_high, horizon)
        return limit_velocity(
            command, lowest, highest, horizon, self._lower, self._upper, self._speed
        )

    def _refusal_reason(self, command: np.ndarray) -> str:
        if self.reach is None:
            return "no joint limits yet (waiting for the robot description)"
        if self._state_problem:
            return self._state_problem
        if self._positions is None or not self.reach.known:
            return "no joint state received yet"
        if command.shape != (len(self.joints),):
            return f"{command.size} components for the joints {list(self.joints)}"
        if not np.isfinite(command).all():
            return "command is not finite"
        return ""

    # output and state

    def _stop(self, now: float, own: bool) -> np.ndarray | None:
        """A stop to send. `own`: on the gate's own initiative (watchdog, e-stop), which a lockstep
        robot takes without stepping; otherwise in answer to a command, which steps it."""
        if self.reach is None:
            return None
        stop = np.zeros(len(self.joints))
        if self.config.command_interface == "position":  # stopping is holding still
            stop = self._target if self._target is not None else self._positions
            # While resetting, nothing: the robot holds its target, and one from before the
            # jump would pull it back once it lands after the reset.
            if stop is None or self._resetting:
                return None
        self._stops += 1
        if not (own and self.config.stepping == "lockstep"):
            self._record(stop, now)
        return stop

    @property
    def mode(self) -> Mode:
        if self._estop:
            return Mode.ESTOP
        if self.timing is not None and self.timing.late:
            return Mode.LATE
        if self._resetting:
            return Mode.RESETTING
        if self._stale:
            return Mode.STALE
        if self._refusal:
            return Mode.REFUSED
        return Mode.OK

    @property
    def lost(self) -> int:
        """lockstep: commands the robot never showed (control/reach.py LOST_AFTER)."""
        return self.reach.lost if self.reach is not None else 0

    def state(self) -> GateState:
        mode = self.mode
        reason = {
            Mode.OK: "",
            Mode.ESTOP: "e-stop latched",
            Mode.STALE: f"no valid policy command for over {self.stale_after:g} s",
            Mode.REFUSED: f"policy command refused: {self._refusal}",
            Mode.RESETTING: "the robot is resetting",
            Mode.LATE: f"timing broke: {self.timing and self.timing.reason}; stops until it "
            f"holds for {RECOVERY_PERIODS * self.config.control_period:g} s",
        }[mode]
        return GateState(
            mode=mode,
            estop=self._estop,
            forwarded=self._forwarded,
            clipped=self._clipped,
            refused=self._refused,
            stops=self._stops,
            dropped=self._dropped,
            lost=self.lost,
            reason=reason,
        )
