"""The arm's side of a ros2_control link, emulated with MuJoCo (ROS-free): what the hardware
emulator node (ros/arm_emulator.py) puts behind a real arm's topics.

* The suite's scene (its MjModel/MjData) advances in whole physics steps as wall time passes
  (`advance(now)`); a stall longer than MAX_CATCH_UP is not made up (as robots/wall_clock.py).
* Inbound, as a forward velocity controller and a joint_trajectory_controller take them (in
  model names: robots/vendor_messages.py converts the vendor's): the latest velocity command is
  held; a trajectory is followed by linear interpolation between its points by time_from_start
  (from where the arm was when it arrived to the first point), tracked with the velocity servos:
  a P term plus the segment's feed-forward velocity, saturated at each joint's velocity limit.
  After its last point the trajectory holds that point until a velocity command arrives.
* A trajectory, while active, has priority over velocity commands: those that arrive meanwhile
  are ignored. On a real arm only one of the two controllers would be active and the driver
  would switch between them (a controller_manager's job, outside this project); here both
  listen, and this rule stands in for the switch.
* The imperfections of a real link (robots/emulated_link.py `Link`), each a setting: latency
  and jitter on both ways (timestamped queues, `DelayLine`: inbound messages act, and sampled
  states are delivered, that much later), Gaussian noise on reported positions and velocities,
  lost messages each way.
* A protective stop: the arm brakes to zero velocity (the servos at their force limits) and
  ignores commands and trajectories until cleared; joint states go on.

Pure logic: every time (`now`, s) is a reading of one steady clock passed in (tests make them
up); nothing sleeps. Randomness comes from one seed, split per use (emulated_link.stream): a
run repeats exactly. The scene around the arm (its objects' poses, their reset) is
robots/emulated_scene.py; the camera over it robots/scene_camera.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from skill_embedding_ros.robots import emulated_link as streams
from skill_embedding_ros.robots.emulated_link import PERFECT, SLACK, Link
from skill_embedding_ros.robots.ros2_control import RobotConfig
from skill_embedding_ros.robots.vendor_messages import Trajectory
from skill_embedding_ros.tasks.suite import Scene

START_NOISE = 0.05
"""rad: a `near_home` start puts each joint uniformly within this of home (inside its range)."""
TRACKING_GAIN = 5.0
"""1/s: P gain of trajectory tracking (a position error of 0.1 rad asks for 0.5 rad/s on top
of the segment's velocity): the error halves in 0.14 s, and the fingers' soft servos keep up."""
MAX_CATCH_UP = 1.0
"""s: the longest gap between `advance` calls made up by stepping; a longer one (a process
stopped in a debugger) re-anchors instead of replaying the motion at once."""
STARTS = ("near_home", "home")


@dataclass(frozen=True)
class JointSample:
    """One joint_states message: every joint in broadcast order, by vendor name; position
    (rad) and velocity (rad/s) with noise, effort (N·m) what each joint's actuator applies;
    stamp: what the caller passed to `sample` (the node clock's time when it sampled)."""

    stamp: object
    names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray


class EmulatedArm:
    """A robot config's arm, simulated in its suite's scene, behind an imperfect link."""

    def __init__(
        self,
        robot: RobotConfig,
        scene: Scene,
        link: Link = PERFECT,
        seed: int = 0,
        start: str = "near_home",
        now: float = 0.0,
    ):
        if scene.actuator != "velocity":
            raise ValueError(
                f"the emulator drives velocity servos; suite {robot.suite!r} "
                f"commands {scene.actuator}: use its velocity variant"
            )
        if start not in STARTS:
            raise ValueError(f"start must be one of {STARTS}, got {start!r}")
        self.robot, self.scene, self.link = robot, scene, link
        m = self.model = scene.model
        self.data = scene.data
        self.dt = float(m.opt.timestep)
        self.joints = tuple(robot.joints)  # model names: the order of every array below
        missing = sorted(set(self.joints) - set(scene.joints))
        if missing:
            raise ValueError(f"robot config names joints {missing} the suite's scene lacks")
        ids = self._ids = [m.joint(j).id for j in self.joints]
        self._qadr = m.jnt_qposadr[ids]
        self._vadr = m.jnt_dofadr[ids]
        joint_servo = mujoco.mjtTrn.mjTRN_JOINT
        servo = {
            m.actuator_trnid[a, 0]: a for a in range(m.nu) if m.actuator_trntype[a] == joint_servo
        }
        if any(i not in servo for i in ids):
            raise ValueError(f"the suite's scene has no servo on some of {list(self.joints)}")
        self._ctrl = np.array([servo[i] for i in ids])
        self.limit = m.actuator_ctrlrange[self._ctrl, 1].copy()  # rad/s: the servos' ranges
        index = {j: k for k, j in enumerate(self.joints)}
        model = robot.model()
        self.broadcast = tuple(robot.broadcast_order)
        self._order = np.array([index[model[v]] for v in self.broadcast])
        self.inbound = link.line(streams.stream(seed, streams.INBOUND))
        self.outbound = link.line(streams.stream(seed, streams.OUTBOUND))
        self._noise = streams.stream(seed, streams.NOISE)
        self._place(start, streams.stream(seed, streams.START))
        self._anchor, self._steps = now, 0
        self.skipped = 0.0  # s of stalls not made up (beyond MAX_CATCH_UP)
        self.target = np.zeros(len(self.joints))  # rad/s: what the servos were last told
        self._traj: tuple | None = None  # (start time, times, positions for every joint)
        self.stopped = False
        self.ignored = 0  # inbound messages refused: while stopped, or commands under a trajectory
        self._events: list[tuple[str, str]] = []

    def _place(self, start: str, rng: np.random.Generator) -> None:
        """The scene's own start (objects included), then the arm at (or near) home."""
        m, d = self.model, self.data
        self.scene.reset(rng)
        home = np.array([self.robot.home[j] for j in self.joints])
        if start == "near_home":
            home = home + rng.uniform(-START_NOISE, START_NOISE, home.size)
        ids = self._ids
        limited = m.jnt_limited[ids].astype(bool)
        low, high = m.jnt_range[ids].T
        home = np.where(limited, np.clip(home, low, high), home)
        d.qpos[self._qadr] = home
        d.qvel[self._vadr] = 0.0
        d.ctrl[:] = 0.0
        mujoco.mj_forward(m, d)

    # -- the driver's side: what arrives over the link --------------------------------------

    def command(self, values: dict[str, float], now: float) -> bool:
        """A velocity command (rad/s by model joint name, every joint: `vendor_command`) sent at
        `now`; it acts `latency` (+ jitter) later. False: the link lost it."""
        return self.inbound.push(("command", np.array([values[j] for j in self.joints])), now)

    def follow(self, trajectory: Trajectory, now: float, start_at: float | None = None) -> bool:
        """A trajectory sent at `now`; it starts when it arrives, or at `start_at` (same clock)
        if that is later (a JointTrajectory's header stamp). False: the link lost it."""
        return self.inbound.push(("trajectory", trajectory, start_at), now)

    def protective_stop(self, on: bool, now: float) -> None:
        """Trigger (True) or clear (False) the protective stop, at once (it is the arm's own
        state, not a message over the link). Clearing leaves the arm at rest: motion resumes
        only with a new command or trajectory."""
        self.advance(now)  # what happened before `now` happened without it
        if on and not self.stopped:
            self._event("error", "protective stop: braking to rest, ignoring commands")
        elif not on and self.stopped:
            self._event("info", "protective stop cleared: at rest, taking commands again")
        self.stopped = on
        self._traj = None
        self._drive(np.zeros(len(self.joints)))  # the servos brake at their force limits

    # -- the arm --------------------------------------------------------------------------

    @property
    def time(self) -> float:
        """s, on the caller's clock: how far the physics has advanced."""
        return self._anchor + self._steps * self.dt

    @property
    def mode(self) -> str:
        """stopped, trajectory or velocity: what drives the servos now."""
        return "stopped" if self.stopped else "trajectory" if self._traj else "velocity"

    def advance(self, now: float) -> int:
        """Step the physics through every whole physics step that has passed by `now`; returns
        how many. Each step applies what arrived by its start."""
        owed = math.floor((now - self._anchor) / self.dt + SLACK) - self._steps
        if owed * self.dt > MAX_CATCH_UP:
            self.skipped += (owed - 1) * self.dt
            self._anchor, self._steps, owed = now - self.dt, 0, 1
        for _ in range(max(owed, 0)):
            t = self.time
            if len(self.inbound):
                for item in self.inbound.pop(t):
                    self._arrive(item, t)
            if self._traj is not None:  # the only target that changes between arrivals
                self._drive(self._track(t))
            mujoco.mj_step(self.model, self.data)
            self._steps += 1
        return max(owed, 0)

    def _drive(self, velocity: np.ndarray) -> None:
        self.target = velocity
        self.data.ctrl[self._ctrl] = velocity

    def _arrive(self, item: tuple, t: float) -> None:
        if self.stopped:
            self.ignored += 1
            return self._event("warn", f"{item[0]} ignored: the protective stop is on")
        if item[0] == "trajectory":
            _, traj, start_at = item
            q = self.data.qpos[self._qadr].copy()
            if not len(traj.times):  # hold where the arm is
                self._traj = (t, np.zeros(1), q[None])
                return self._event("info", "empty trajectory: holding where the arm is")
            points = np.repeat(q[None], len(traj.times), 0)
            index = [self.joints.index(j) for j in traj.joints]
            points[:, index] = traj.positions
            # The first segment runs from where the arm is when the trajectory starts.
            times = np.concatenate([[0.0], traj.times])
            begin = t if start_at is None else max(t, start_at)
            self._traj = (begin, times, np.concatenate([q[None], points]))
            what = f"{len(traj.times)} point(s) over {traj.times[-1]:.2f} s"
            self._event("info", f"trajectory of {what} for {list(traj.joints)}")
            return
        if self._traj is not None and t < self._traj[0] + self._traj[1][-1]:
            self.ignored += 1
            return self._event("warn", "velocity command ignored: a trajectory is running")
        if self._traj is not None:
            self._event("info", "velocity command after the trajectory: velocity control")
        self._traj = None
        self._drive(np.clip(item[1], -self.limit, self.limit))

    def _track(self, t: float) -> np.ndarray:
        begin, times, points = self._traj
        s = t - begin
        if s <= 0.0:  # not started yet: hold where it arrived
            want, feed = points[0], 0.0
        elif s >= times[-1]:
            want, feed = points[-1], 0.0
        else:
            k = int(np.searchsorted(times, s, side="right")) - 1
            span = times[k + 1] - times[k]
            feed = (points[k + 1] - points[k]) / span
            want = points[k] + feed * (s - times[k])
        q = self.data.qpos[self._qadr]
        return np.clip(feed + TRACKING_GAIN * (want - q), -self.limit, self.limit)

    # -- joint_states -----------------------------------------------------------------------

    def positions(self) -> dict[str, float]:
        """The true joint positions (rad) by model name, no noise."""
        return dict(zip(self.joints, self.data.qpos[self._qadr].tolist(), strict=True))

    def velocities(self) -> dict[str, float]:
        """The true joint velocities (rad/s) by model name, no noise."""
        return dict(zip(self.joints, self.data.qvel[self._vadr].tolist(), strict=True))

    def sample(self, now: float, stamp: object) -> bool:
        """Sample the state at `now` (advance first) into the outbound link, tagged `stamp`;
        False: the link lost it."""
        d, o, link = self.data, self._order, self.link
        position = d.qpos[self._qadr][o]
        velocity = d.qvel[self._vadr][o]
        if link.noise_position:
            position = position + self._noise.normal(0.0, link.noise_position, position.size)
        if link.noise_velocity:
            velocity = velocity + self._noise.normal(0.0, link.noise_velocity, velocity.size)
        effort = d.qfrc_actuator[self._vadr][o]
        state = JointSample(stamp, self.broadcast, position, velocity, effort)
        return self.outbound.push(state, now)

    def states(self, now: float) -> list[JointSample]:
        """The sampled states that reach the driver by `now`, oldest first."""
        return self.outbound.pop(now)

    def _event(self, level: str, text: str) -> None:
        self._events.append((level, text))

    def events(self) -> list[tuple[str, str]]:
        """(level: info, warn or error; text) of what happened since the last call: for logs."""
        out, self._events = self._events, []
        return out
