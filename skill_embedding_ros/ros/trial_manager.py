"""Trial manager node: N operator-monitored trials on a robot, labelled, and their report.

It stands between the safety gate and the arm driver: it serves `robot_reset` (what the gate
calls) in place of the driver. On a call it homes the arm through the driver's `home` service
(`home_service`), waits for the operator to reset the scene and press confirm on /joy (one log
line says what to do, repeated every REMIND s), then answers with the driver's home reply, so
the new episode's stamp is the robot's. It follows the policy's `step_records` to see the
episode and its closing record, then waits for the operator's label (success, failure, abort;
abort is taken at once while the episode runs, as is an e-stop latched on `gate_state`).
Each label goes out on `trial_label` (latched with a bounded history: a bag recorder that
starts late still gets every one) and the report under `<out>/trials/` is rewritten. After N
trials resets are refused ("the trials are over") and the process exits 0 a moment later.

The trial logic is ROS-free in control/trials.py, the report in training/trial_report.py.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import Image, Joy
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from skill_embedding_ros.control.teleop import load_mapping
from skill_embedding_ros.control.trials import LABELS, Phase, PressEdges, Step, TrialRun, prompt
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.perception.image import rgb
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import reset_reply_stamp
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.ros.steady_clock import steady_s
from skill_embedding_ros.settings.trials import TrialConfig
from skill_embedding_ros.training.trial_report import write_report

REMIND = 10.0
"""s between repetitions of the operator's instruction."""
LINGER = 2.0
"""s the node keeps serving (refusing) resets after the last trial, so the refusal reaches the
gate before the process ends."""
ROLES = ("confirm", *LABELS)


class TrialManager(Node):
    def __init__(self):
        super().__init__("trial_manager")
        cfg = declare(self, TrialConfig)
        self.cfg = cfg
        try:
            mapping = load_mapping(cfg.teleop)
        except ValueError as err:  # names the file and what is wrong with it
            raise SystemExit(f"error: {err}") from None
        self.edges = PressEdges(mapping.pressed, ROLES)
        self.run = TrialRun(cfg.trials)
        # Timeouts run on a steady clock: they are about the operator and the driver, not the
        # robot's time.
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.task = ""  # the task the policy announced for the next episode
        self.estop = False  # the gate's e-stop is latched
        self._waiters: list[Future] = []  # reset calls waiting for an answer
        self._home_reply = ""
        self._homing = 0  # number of the current home call (a late reply of an older is ignored)
        self._home_deadline: float | None = None
        self._last_prompt = -float("inf")
        self._phase = self.run.phase
        self._closing = None  # the timer that ends the process after the last trial
        self._labels = self.create_publisher(String, topics.TRIAL_LABEL, topics.LABELS)
        self._writer = ThreadPoolExecutor(max_workers=1)  # reports, one at a time, in order
        self._state = self.create_publisher(DiagnosticStatus, topics.TRIAL_STATE, topics.LATCHED)
        reentrant = ReentrantCallbackGroup()
        self._home = self.create_client(Trigger, cfg.home_service, callback_group=reentrant)
        self.create_service(Trigger, topics.ROBOT_RESET, self._on_reset, callback_group=reentrant)
        self.create_subscription(Joy, topics.JOY, self._on_joy, topics.RELIABLE)
        self.create_subscription(
            Float64MultiArray, topics.STEP_RECORDS, self._on_record, topics.RECORDS
        )
        self.create_subscription(
            DiagnosticStatus, topics.GATE_STATE, self._on_gate_state, topics.LATCHED
        )
        self.create_subscription(String, topics.TASK, self._on_task, topics.LATCHED)
        self._frames: list[np.ndarray] = []  # the running trial's, for its video
        self._framed = -float("inf")  # when the last frame was kept
        if cfg.camera:
            self.create_subscription(Image, cfg.camera, self._on_image, topics.SENSOR)
        self.create_timer(1.0, self._on_tick, clock=self._steady)
        self._publish_state()
        self.get_logger().info(
            f"{cfg.trials} trial(s); operator buttons from the {cfg.teleop!r} mapping on "
            f"{topics.JOY}; homing through {self._home_name()}; report in {cfg.out}/trials/"
        )

    def _home_name(self) -> str:
        return self.resolve_service_name(self.cfg.home_service)

    def _now(self) -> float:
        return steady_s()

    # -- reset calls -----------------------------------------------------------------------

    async def _on_reset(self, request: Trigger.Request, response: Trigger.Response):
        """Answered once the arm is homed and the operator confirmed (or refused)."""
        waiter = Future()
        self._waiters.append(waiter)
        self._apply(self.run.reset(self._now(), self.task), "reset")
        response.success, response.message = await waiter
        return response

    def _start_homing(self) -> None:
        self._homing += 1
        k = self.run.number
        if not self._home.service_is_ready():
            message = f"the driver's home service {self._home_name()} is not up"
            self._apply(self.run.homed(False, self._now(), message=message), "home")
            return
        self.get_logger().info(f"trial {k}/{self.run.trials}: homing the arm")
        self._home_deadline = self._now() + self.cfg.home_timeout
        number = self._homing
        future = self._home.call_async(Trigger.Request())
        future.add_done_callback(lambda f: self._on_home_reply(f, number))

    def _on_home_reply(self, future, number: int) -> None:
        if number != self._homing:
            return  # an older call, given up already
        self._home_deadline = None
        reply = future.result()
        ok = reply is not None and reply.success
        message = reply.message if reply is not None else "no reply"
        if ok:
            self._home_reply = message
        else:
            message = f"homing failed: {message}"
        stamp = reset_reply_stamp(message) if ok else None
        self._apply(self.run.homed(ok, self._now(), stamp, message), "home")

    def _answer(self, ok: bool, message: str) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result((ok, message))

    # -- operator, records, gate -------------------------------------------------------------

    def _on_joy(self, msg: Joy) -> None:
        for role in self.edges.update(list(msg.buttons)):
            now = self._now()
            if role == "confirm":
                step = self.run.confirm(now, self.estop)
            else:
                step = self.run.label(role, now)
            self._apply(step, role, loud=True)

    def _on_record(self, msg: Float64MultiArray) -> None:
        try:
            dims = msg.layout.dim
            record = sr.decode([d.label for d in dims], [d.size for d in dims], np.array(msg.data))
        except ValueError as err:
            self.get_logger().warning(f"ignoring a step record: {err}", throttle_duration_sec=5)
            return
        self._apply(self.run.record(record, self._now()), "record")

    def _on_gate_state(self, msg: DiagnosticStatus) -> None:
        values = {kv.key: kv.value for kv in msg.values}
        latched = values.get("estop") == "true"
        if latched and not self.estop:
            self.get_logger().warning(f"the safety gate's e-stop latched: {msg.message}")
            self._apply(self.run.estop(self._now()), "e-stop")
        self.estop = latched

    def _on_image(self, msg: Image) -> None:
        """Keep a frame of the running trial, at most video_fps a second, shrunk."""
        now = self._now()
        if self.run.phase != Phase.RUNNING or now - self._framed < 1.0 / self.cfg.video_fps:
            return
        try:
            scale = self.cfg.video_width / msg.width if msg.width else 1.0
            picture = rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data, scale)
        except ValueError as err:
            self.get_logger().warning(f"no video frame: {err}", throttle_duration_sec=10.0)
            return
        self._framed = now
        self._frames.append(picture)

    def _on_task(self, msg: String) -> None:
        """The policy names the task before it calls `reset`, but the topic and the service
        travel separately (topic_names.TASK): a task that comes after the call is still the
        trial's, until its episode starts."""
        self.task = msg.data
        trial = self.run.current
        if trial is not None and trial.episode < 0:
            trial.task = msg.data

    def _on_tick(self) -> None:
        if self._home_deadline is not None and self._now() > self._home_deadline:
            self._home_deadline = None
            self._homing += 1  # its reply, should it come, is too late
            message = (
                f"the driver's home service {self._home_name()} did not answer within "
                f"{self.cfg.home_timeout:g} s"
            )
            self.get_logger().error(message)
            self._apply(self.run.homed(False, self._now(), message=message), "home")
        self._remind()

    def _remind(self, force: bool = False) -> None:
        line = prompt(self.run)
        now = self._now()
        if line and (force or now - self._last_prompt >= REMIND):
            self._last_prompt = now
            self.get_logger().info(f"OPERATOR: {line}")

    # -- what a step asks --------------------------------------------------------------------

    def _apply(self, step: Step, what: str, loud: bool = False) -> None:
        if step.ignored:
            # The operator's presses deserve an answer; records and repeats are routine.
            log = self.get_logger().warning if loud else self.get_logger().debug
            log(f"ignored {step.ignored}")
        if step.labelled is not None:
            trial = step.labelled
            self._labels.publish(String(data=trial.message()))
            self.get_logger().info(
                f"trial {trial.trial}/{self.run.trials} episode {trial.episode}: {trial.label}"
                + (f" ({trial.reason})" if trial.reason != "operator" else "")
            )
        if step.answer:
            ok = step.ok
            message = self._home_reply if ok else step.message
            if step.done:
                message += f"; report in {self.cfg.out}/trials/"
            if ok:
                self.get_logger().info(f"trial {self.run.number}/{self.run.trials}: running")
            else:
                self.get_logger().warning(f"answering the reset: {message}")
            self._answer(ok, message)
        if step.finished is not None:
            frames, self._frames = self._frames, []
            self._write_report(step.done, {step.finished.trial: frames} if frames else None)
        if step.home:
            self._start_homing()
        if step.done and self._closing is None:
            self._closing = self.create_timer(LINGER, self._finish, clock=self._steady)
        if self.run.phase != self._phase:  # a new question for the operator: ask it now
            self._phase = self.run.phase
            self._remind(force=True)
            self._publish_state()

    def _publish_state(self) -> None:
        run = self.run
        values = {
            "phase": run.phase.value,
            "trial": min(run.number, run.trials),
            "trials": run.trials,
            "labelled": len(run.finished),
            "prompt": prompt(run),
        }
        self._state.publish(
            DiagnosticStatus(
                level=DiagnosticStatus.OK,
                name=self.get_fully_qualified_name(),
                message=values["prompt"] or run.phase.value,
                values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
            )
        )

    def _write_report(self, final: bool, frames=None) -> None:
        """In the writer thread: a plot and a video take seconds, and the operator's buttons and
        the next homing must not wait for them."""
        self._writer.submit(self._write, list(self.run.finished), final, frames)

    def _write(self, finished: list, final: bool, frames) -> None:
        try:
            paths = write_report(
                self.cfg.out, finished, self.cfg.trials, frames, self.cfg.video_fps
            )
        except OSError as err:
            self.get_logger().error(f"cannot write the trial report in {self.cfg.out}: {err}")
            return
        if final:
            self.get_logger().info(
                f"{self.cfg.trials} trial(s) done; report: {paths['md']} (and .json, .png)"
            )

    def _finish(self) -> None:
        self._writer.shutdown(wait=True)  # the final report is on disk before the exit
        self.exit_code = 0

    def close(self) -> None:
        """Ctrl-C: answer whoever waits, so the gate is not left hanging; finish the report."""
        self._answer(False, "refused: the trial manager is shutting down")
        self._writer.shutdown(wait=True)


def main(args=None):
    return spin(TrialManager, args)


if __name__ == "__main__":
    sys.exit(main())
