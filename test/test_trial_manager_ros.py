"""The trial manager as a real process over DDS: a probe plays the arm driver's `home` service,
the gate's `robot_reset` calls, the policy's `step_records` and the operator's /joy, for three
trials (success, abort while running, failure), then an extra reset that is refused."""

import json

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import Image, Joy
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import record_message, reset_reply
from skill_embedding_ros.ros.processes import Probe, fresh_domain, log_text, start_node, stop

NS = "/actor_0"
BUTTONS = {"confirm": 0, "success": 1, "failure": 2, "abort": 3, "deadman": 4}
MAPPING = "buttons: {" + ", ".join(f"{k}: {v}" for k, v in BUTTONS.items()) + "}\n"
STEPS = 4
SEC = 1_000_000_000


class _Graph:
    def __init__(self, tmp_path):
        (tmp_path / "pad.yaml").write_text(MAPPING)
        self.out = tmp_path / "run"
        domain = fresh_domain()
        params = {"trials": 3, "teleop": str(tmp_path / "pad.yaml"), "out": str(self.out)}
        params["camera"] = f"{NS}/camera/image_raw"
        self.proc = start_node("trial_manager", domain, tmp_path, NS, params)
        self.probe = Probe(domain)
        node = self.probe.node
        self.homes: list[int] = []  # stamps (s) of the home replies given
        node.create_service(Trigger, f"{NS}/{topics.HOME}", self._on_home)
        self.reset = node.create_client(Trigger, f"{NS}/{topics.ROBOT_RESET}")
        self.records = node.create_publisher(
            Float64MultiArray, f"{NS}/{topics.STEP_RECORDS}", topics.RECORDS
        )
        self.joy = node.create_publisher(Joy, topics.JOY, topics.RELIABLE)
        self.task = node.create_publisher(String, f"{NS}/{topics.TASK}", topics.LATCHED)
        self.camera = node.create_publisher(Image, params["camera"], topics.SENSOR)
        self.phases: list[str] = []
        node.create_subscription(
            DiagnosticStatus, f"{NS}/{topics.TRIAL_STATE}",
            lambda m: self.phases.append({kv.key: kv.value for kv in m.values}["phase"]),
            topics.LATCHED,
        )  # fmt: skip
        self.labels: list[str] = []
        self.label_topic = f"{NS}/{topics.TRIAL_LABEL}"
        node.create_subscription(String, self.label_topic, self._on_label, topics.LABELS)
        self.probe.spin_until(
            lambda: (
                self.reset.service_is_ready()
                and self.joy.get_subscription_count() > 0
                and self.records.get_subscription_count() > 0
                and node.count_subscribers(f"{NS}/{topics.TASK}") > 0
            ),
            30.0,
            "the trial manager's service and subscriptions",
        )
        self.task.publish(String(data="reach"))

    def _on_home(self, request, response):
        stamp = 100 * (len(self.homes) + 1)
        self.homes.append(stamp)
        response.success, response.message = True, reset_reply(Time(sec=stamp))
        return response

    def _on_label(self, msg: String) -> None:
        self.labels.append(msg.data)

    def press(self, role: str) -> None:
        buttons = [0] * 8
        buttons[BUTTONS[role]] = 1
        self.joy.publish(Joy(buttons=buttons))
        self.joy.publish(Joy(buttons=[0] * 8))

    def call_reset(self):
        """A reset call the trial manager takes up (it homes); retried while its client has
        not discovered the probe's home service yet, as the policy retries."""
        for _ in range(20):
            homes = len(self.homes)
            future = self.reset.call_async(Trigger.Request())
            self.probe.spin_until(
                lambda f=future, n=homes: f.done() or len(self.homes) > n, 30.0, "homing"
            )
            if not future.done():
                return future
            assert "not up" in future.result().message, future.result().message
            self.probe.spin_for(0.5)
        raise AssertionError("the trial manager never homed")

    def episode(self, episode: int, since_s: int, flags: int = 0, steps=range(STEPS + 1)):
        for k in steps:
            stamp = (since_s * SEC) + k * SEC // 10
            if k < STEPS:
                record = sr.StepRecord(
                    stamp, episode, k, 0, np.zeros(2), np.zeros(1), 0.5, np.zeros(1),
                    0.0, 0.0, flags if k == 1 else 0,
                )  # fmt: skip
            else:
                record = sr.closing_record(stamp, episode, k, 0, np.zeros(2), 1, 1)
            self.records.publish(record_message(record))

    def film(self, frames: int) -> None:
        """Camera pictures (bgr8, 64 x 48, padded rows) 0.25 s apart: more than video_fps."""
        for i in range(frames):
            picture = np.full((48, 66, 3), 40 * i % 255, np.uint8)
            self.camera.publish(
                Image(height=48, width=64, encoding="bgr8", step=66 * 3, data=picture.tobytes())
            )
            self.probe.spin_for(0.25)

    def close(self) -> int:
        code = stop(self.proc)
        self.probe.close()
        return code


@pytest.fixture
def graph(tmp_path):
    g = _Graph(tmp_path)
    yield g
    g.close()


def test_three_trials_labelled_reported_and_further_resets_refused(graph):
    g, spin_until = graph, graph.probe.spin_until
    plan = [("success", 0), ("abort", 0), ("failure", sr.INTERVENTION)]
    late: list[str] = []
    for k, (label, flags) in enumerate(plan):
        future = g.call_reset()
        g.probe.spin_for(0.5)
        assert not future.done(), "answered before the operator confirmed"
        g.press("success")  # not a confirm: ignored
        g.probe.spin_for(0.3)
        assert not future.done()
        g.press("confirm")
        spin_until(future.done, 10.0, "the reset's answer after confirm")
        reply = future.result()
        assert reply.success and reply.message == reset_reply(Time(sec=g.homes[-1]))
        if label == "abort":  # taken at once, while the episode runs
            g.episode(10 + k, g.homes[-1], steps=range(2))
            g.probe.spin_for(0.3)
            g.press("abort")
            spin_until(lambda: len(g.labels) == 2, 10.0, "the abort's label, before the end")
            g.episode(10 + k, g.homes[-1], steps=range(2, STEPS + 1))
        else:
            if k == 0:
                g.film(6)
            g.episode(10 + k, g.homes[-1], flags)
            # The operator labels after the prompt (records and Joy are separate topics).
            prompt = f"OPERATOR: trial {k + 1}/3: episode over; label it"
            spin_until(lambda p=prompt: p in log_text(g.proc), 10.0, "the label prompt")
            if k == 2:  # the policy asks for the next episode before the operator labels
                extra = g.reset.call_async(Trigger.Request())
                g.probe.spin_for(0.5)
                assert not extra.done(), "the reset did not wait for the label"
            g.press(label)
        spin_until(lambda n=k + 1: len(g.labels) >= n, 10.0, f"label {k + 1}")
        if k == 1:  # a subscriber that joins late still gets every label so far
            g.probe.node.create_subscription(
                String, g.label_topic, lambda m: late.append(m.data), topics.LABELS
            )
            spin_until(lambda: len(late) >= 2, 10.0, "the labels for a late subscriber")
    assert g.labels == [
        "trial=1 episode=10 label=success",
        "trial=2 episode=11 label=abort",
        "trial=3 episode=12 label=failure",
    ]
    # The late subscriber stays subscribed: it gets the history, then what follows.
    spin_until(lambda: len(late) >= 3, 10.0, "the third label for the late subscriber")
    assert late == g.labels
    spin_until(extra.done, 10.0, "the refusal of the extra reset")
    assert not extra.result().success and "over" in extra.result().message
    assert len(g.homes) == 3
    g.proc.wait(15.0)
    assert g.proc.returncode == 0, log_text(g.proc)

    report = json.loads((g.out / "trials" / "report.json").read_text())
    s = report["summary"]
    assert s["counts"] == {"success": 1, "failure": 1, "abort": 1}
    assert (s["trials"], s["planned"], s["judged"], s["success_rate"]) == (3, 3, 2, 0.5)
    rows = report["trials"]
    assert [r["episode"] for r in rows] == [10, 11, 12]
    assert all(r["steps"] == STEPS and r["task"] == "reach" for r in rows)
    assert rows[2]["intervention_share"] == pytest.approx(1 / STEPS)
    assert rows[0]["return"] == pytest.approx(0.5 * STEPS)
    # The operator's time on the node's clock: confirmed after the reset, labelled after that.
    assert all(0 <= r["setup_s"] <= r["wall_s"] < 60 for r in rows), rows
    assert (g.out / "trials" / "report.png").stat().st_size > 0
    assert "| 3 | 12 | reach | failure |" in (g.out / "trials" / "report.md").read_text()
    # The first trial was filmed (6 pictures, kept at most 5 a second), the others not.
    video = cv2.VideoCapture(str(g.out / "trials" / "trial_1.mp4"))
    assert 3 <= video.get(cv2.CAP_PROP_FRAME_COUNT) <= 6
    assert video.get(cv2.CAP_PROP_FRAME_WIDTH) == 320  # shrunk to video_width
    assert not (g.out / "trials" / "trial_2.mp4").exists()
    for phase in ("homing", "await_confirm", "running", "await_label", "done"):
        assert phase in g.phases, g.phases
    log = log_text(g.proc)
    assert "OPERATOR: trial 1/3: arm homed; reset the scene, then press confirm" in log
    assert "OPERATOR: trial 3/3: episode over; label it" in log
    assert "ignored success while await_confirm: no trial to label" in log


def test_a_bad_mapping_stops_with_one_error_line(tmp_path):
    proc = start_node("trial_manager", fresh_domain(), tmp_path, NS, {"teleop": "no_such_pad"})
    assert proc.wait(30.0) == 2
    assert "error: teleop mapping 'no_such_pad': no file" in log_text(proc)
