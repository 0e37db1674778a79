"""The trial sequence (control/trials.py), the Wilson interval and the trial report
(training/trial_report.py): pure, no ROS."""

import json
import math

import numpy as np
import pytest

from skill_embedding_ros.control.trials import Phase, PressEdges, Trial, TrialRun, prompt
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.training.trial_report import (
    markdown,
    read_report,
    running_rate,
    summarize,
    trial_row,
    wilson_interval,
    write_report,
)

SEC = 1_000_000_000


def record(episode: int, step: int, stamp_s: float, flags: int = 0, reward: float = 1.0):
    if flags & sr.LAST:
        return sr.closing_record(int(stamp_s * SEC), episode, step, 0, np.zeros(2), 1, 1)
    return sr.StepRecord(
        int(stamp_s * SEC), episode, step, 0, np.zeros(2), np.zeros(1), reward, np.zeros(1),
        0.0, 0.0, flags,
    )  # fmt: skip


def episode(run: TrialRun, number: int, start_s: float, steps: int = 3, intervened=()) -> None:
    for k in range(steps):
        flags = sr.INTERVENTION if k in intervened else 0
        assert not run.record(record(number, k, start_s + k, flags), 0.0).ignored
    run.record(record(number, steps, start_s + steps, sr.LAST), 0.0)


def start(run: TrialRun, stamp_s: float, now: float = 0.0) -> None:
    """reset -> homed -> confirm, checking what each step asks of the node."""
    assert run.reset(now, "reach").home
    assert run.phase == Phase.HOMING
    assert not run.homed(True, now, int(stamp_s * SEC)).answer
    assert run.phase == Phase.AWAIT_CONFIRM
    step = run.confirm(now)
    assert step.answer and step.ok
    assert run.phase == Phase.RUNNING


def test_three_trials_run_in_order_and_finish():
    run = TrialRun(3)
    labels = ["success", "failure", "success"]
    for k, label in enumerate(labels):
        start(run, stamp_s=100 * k)
        episode(run, number=k, start_s=100 * k, intervened=(1,) if k == 1 else ())
        assert run.phase == Phase.AWAIT_LABEL
        step = run.label(label, 10.0 * k)
        assert step.labelled is step.finished is run.finished[-1]
        assert step.labelled.message() == f"trial={k + 1} episode={k} label={label}"
        assert step.done == (k == 2)
    assert run.phase == Phase.DONE
    trial = run.finished[1]
    assert (trial.steps, trial.episode_return, trial.interventions) == (3, 3.0, 1)
    assert trial.intervention_share == pytest.approx(1 / 3)
    assert trial.duration == pytest.approx(3.0)
    refused = run.reset(99.0)
    assert refused.answer and not refused.ok and "over" in refused.message


def test_a_reset_while_awaiting_the_label_waits_for_it():
    run = TrialRun(2)
    start(run, 0)
    episode(run, 0, 0)
    held = run.reset(5.0, "reach")
    assert held.ignored and not held.home and run.phase == Phase.AWAIT_LABEL
    step = run.label("failure", 6.0)
    assert step.home and run.phase == Phase.HOMING and run.current.trial == 2
    assert run.current.task == "reach"


def test_the_last_label_refuses_the_waiting_reset():
    run = TrialRun(1)
    start(run, 0)
    episode(run, 0, 0)
    run.reset(1.0)
    step = run.label("success", 2.0)
    assert step.done and step.answer and not step.ok and "over" in step.message


def test_abort_while_running_labels_at_once_and_the_episode_still_ends():
    run = TrialRun(2)
    start(run, 0)
    run.record(record(0, 0, 0.0), 0.0)
    step = run.label("abort", 1.0)
    assert step.labelled is not None and step.labelled.label == "abort"
    assert step.finished is None and run.phase == Phase.RUNNING
    assert run.label("abort", 1.1).ignored  # once is enough
    run.record(record(0, 1, 1.0), 0.0)
    step = run.record(record(0, 2, 2.0, sr.LAST), 0.0)
    assert step.finished is not None and step.labelled is None
    assert run.phase == Phase.IDLE and run.finished[0].steps == 2


def test_abort_before_the_first_record_is_announced_with_the_episode():
    run = TrialRun(1)
    start(run, 0)
    assert run.label("abort", 0.5).labelled is None  # the episode number is not known yet
    step = run.record(record(7, 0, 0.0), 0.0)
    assert step.labelled is not None and step.labelled.message().startswith("trial=1 episode=7")


def test_estop_while_running_aborts_and_blocks_confirm():
    run = TrialRun(2)
    start(run, 0)
    run.record(record(0, 0, 0.0), 0.0)
    step = run.estop(1.0)
    assert step.labelled.label == "abort" and step.labelled.reason == "e-stop"
    run.record(record(0, 1, 1.0, sr.LAST), 0.0)
    assert run.reset(2.0).home
    run.homed(True, 2.0, 10 * SEC)
    refused = run.confirm(3.0, estop=True)
    assert "e-stop" in refused.ignored and run.phase == Phase.AWAIT_CONFIRM


def test_invalid_inputs_are_ignored_with_a_reason():
    run = TrialRun(1)
    assert "idle" in run.confirm(0.0).ignored
    assert "no trial" in run.label("success", 0.0).ignored
    assert run.label("maybe", 0.0).ignored.startswith("unknown label")
    assert "idle" in run.record(record(0, 0, 0.0), 0.0).ignored
    assert "home reply" in run.homed(True, 0.0).ignored
    assert "no episode" in run.estop(0.0).ignored
    start(run, 10.0)
    assert "label it when it ends" in run.label("success", 0.0).ignored
    assert "before this trial" in run.record(record(3, 0, 9.0), 0.0).ignored  # older stamp
    assert "began before" in run.record(record(3, 5, 11.0), 0.0).ignored  # mid-episode
    run.record(record(4, 0, 11.0), 0.0)
    assert "episode 5, not 4" in run.record(record(5, 1, 12.0), 0.0).ignored
    assert run.phase == Phase.RUNNING


def test_repeated_resets_join_the_wait_and_failed_homing_answers():
    run = TrialRun(1)
    assert run.reset(0.0).home
    assert run.reset(1.0).ignored and run.phase == Phase.HOMING
    step = run.homed(False, 2.0, message="homing failed: joint_3 limit")
    assert step.answer and not step.ok and "joint_3" in step.message
    assert run.phase == Phase.IDLE and run.number == 1  # the trial did not count


def test_an_abandoned_episode_ends_the_trial_as_abort_and_begins_the_next():
    run = TrialRun(3)
    start(run, 0)
    run.record(record(0, 0, 0.0), 0.0)
    step = run.reset(5.0, "push")
    assert step.finished.label == "abort" and "abandoned" in step.finished.reason
    assert step.labelled is step.finished and step.home
    assert run.current.trial == 2 and run.current.task == "push"
    # a reset before any record of the episode homes the same trial again
    run.homed(True, 6.0, 100 * SEC)
    run.confirm(7.0)
    assert run.reset(8.0).home and run.current.trial == 2 and len(run.finished) == 1


def test_prompt_and_press_edges():
    run = TrialRun(2)
    run.reset(0.0)
    run.homed(True, 0.0)
    assert "press confirm" in prompt(run) and "trial 1/2" in prompt(run)
    buttons = {"confirm": 0, "success": 1}
    edges = PressEdges(lambda b, role: role in buttons and b[buttons[role]] == 1, ("confirm",))
    assert edges.update([1, 0]) == ["confirm"]  # pressed in the first message: a press
    assert edges.update([1, 0]) == []  # held
    assert edges.update([0, 0]) == []
    assert edges.update([1, 1]) == ["confirm"]


@pytest.mark.parametrize(
    ("wins", "n", "low", "high"),
    [  # Wilson score interval, 95 %: Newcombe (1998) table I and R's binom::binom.wilson
        (8, 10, 0.4901625, 0.9433178),
        (0, 10, 0.0, 0.2775328),
        (10, 10, 0.7224672, 1.0),
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
    ],
)
def test_wilson_interval_known_values(wins, n, low, high):
    got = wilson_interval(wins, n)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_edges():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    rate, low, high = running_rate(["abort", "success", "failure"])
    assert math.isnan(rate[0]) and rate[1] == 1.0 and rate[2] == 0.5
    assert low[2] < 0.5 < high[2]


def finished(labels: list[str]) -> list[Trial]:
    run = TrialRun(len(labels))
    for k, label in enumerate(labels):
        start(run, 100 * k)
        episode(run, k, 100 * k, steps=4, intervened=(0, 1) if label == "failure" else ())
        if run.phase == Phase.AWAIT_LABEL:
            run.label(label, 0.0)
    return run.finished


def test_report_files_are_written_and_readable(tmp_path):
    trials = finished(["success", "failure", "abort", "success"])
    paths = write_report(tmp_path, trials, planned=5)
    assert {p.name for p in paths.values()} == {"report.json", "report.md", "report.png"}
    assert all(p.parent == tmp_path / "trials" for p in paths.values())
    report = read_report(tmp_path)
    s = report["summary"]
    assert s["counts"] == {"success": 2, "failure": 1, "abort": 1}
    assert (s["planned"], s["trials"], s["judged"]) == (5, 4, 3)
    assert s["success_rate"] == pytest.approx(2 / 3)
    assert s["wilson95"] == pytest.approx(list(wilson_interval(2, 3)), abs=1e-6)
    rows = report["trials"]
    assert [r["label"] for r in rows] == ["success", "failure", "abort", "success"]
    assert rows[1]["intervention_share"] == 0.5 and rows[1]["steps"] == 4
    assert rows[0]["return"] == 4.0 and rows[0]["duration_s"] == pytest.approx(4.0)
    assert json.loads(paths["json"].read_text()) == report
    md = paths["md"].read_text()
    assert "67 %" not in md and "67%" in md and md.count("\n| ") == 5  # header + 4 rows
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_gives_each_trials_setup_and_wall_time():
    # The operator's clock: the first trial reset and confirmed at 10 s, labelled at 30 s; the
    # second reset at 40 s, confirmed at 42.5 s, labelled at 60 s.
    run = TrialRun(2)
    start(run, stamp_s=0.0, now=10.0)
    episode(run, 0, 0.0, steps=4)
    run.label("success", 30.0)
    row = trial_row(run.finished[0])
    assert (row["setup_s"], row["wall_s"]) == (0.0, 20.0)
    run.reset(40.0, "reach")
    run.homed(True, 41.0, 50 * SEC)
    run.confirm(42.5)
    episode(run, 1, 50.0, steps=2)
    run.label("failure", 60.0)
    row = trial_row(run.finished[1])
    assert (row["setup_s"], row["wall_s"]) == (2.5, 20.0)
    assert "| 2.5 | 20.0 |" in markdown({"summary": summarize(run.finished), "trials": [row]})


def test_report_of_only_aborted_trials_has_no_rate(tmp_path):
    write_report(tmp_path, finished(["abort"]), with_plot=False)
    report = read_report(tmp_path)
    assert report["summary"]["success_rate"] is None
    assert "no judged trial" in (tmp_path / "trials" / "report.md").read_text()
    assert summarize([])["counts"] == {"success": 0, "failure": 0, "abort": 0}


def test_report_video_when_frames_are_given(tmp_path):
    pytest.importorskip("cv2")
    trials = finished(["success"])
    frames = {1: [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(5)]}
    paths = write_report(tmp_path, trials, frames=frames, with_plot=False)
    assert paths["video_1"].name == "trial_1.mp4" and paths["video_1"].stat().st_size > 0


def test_a_trial_aborted_before_it_ran_and_homed_again_is_judged_afresh():
    run = TrialRun(1)
    start(run, 0)
    assert not run.label("abort", 1.0).ignored  # no record yet: the episode is not known
    assert run.reset(2.0, "reach").home  # the policy gave up on it: the same trial homes again
    assert not run.homed(True, 2.0, 10 * SEC).answer and run.confirm(3.0).ok
    episode(run, 7, 10)
    assert run.phase == Phase.AWAIT_LABEL  # not finished as the earlier abort
    assert run.label("success", 4.0).labelled.message() == "trial=1 episode=7 label=success"
