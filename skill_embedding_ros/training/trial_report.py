"""The report of operator-labelled trials on a robot (control/trials.py; written by the trial
manager node): a table per trial, the success rate with a Wilson 95 % interval, a plot, and
videos when frames are given, under `<run>/trials/`: report.json, report.md, report.png,
trial_<k>.mp4.

The success rate counts trials not aborted: an abort (the operator's, an e-stop, an abandoned
episode) says the trial could not be judged, not that the skill failed; aborts are reported
beside it. The Wilson score interval is used because trials are few and rates near 0 or 1 are
common, where the normal approximation's interval leaves [0, 1] or collapses to a point.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from skill_embedding_ros.control.trials import LABELS, Trial

Z95 = 1.959963984540054
"""The standard normal's 97.5 % quantile: a two-sided 95 % interval."""
FOLDER = "trials"
"""The report's folder under the run directory."""


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (successes of n); (NaN, NaN) for
    n = 0. E.g. 8 of 10 -> (0.490, 0.943); 0 of 10 -> (0, 0.278)."""
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in 0..{n}, got {successes}")
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def _number(value: float, digits: int = 6) -> float | None:
    """JSON has no NaN: None stands for unknown."""
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def trial_row(trial: Trial) -> dict:
    """One row of the table (JSON-ready; None: unknown)."""
    return {
        "trial": trial.trial,
        "episode": trial.episode,
        "task": trial.task,
        "task_id": trial.task_id,
        "label": trial.label,
        "reason": trial.reason,
        "steps": trial.steps,
        "return": _number(trial.episode_return),
        "interventions": trial.interventions,
        "intervention_share": _number(trial.intervention_share),
        "duration_s": _number(trial.duration),
        # The operator's time, on the manager's clock: homing and the confirm, then the whole.
        "setup_s": _number(trial.confirmed - trial.started),
        "wall_s": _number(trial.ended - trial.started),
        "complete": trial.closed,
    }


def summarize(trials: Sequence[Trial], planned: int | None = None) -> dict:
    """Counts by label and the success rate over trials not aborted, with its interval."""
    counts = {label: sum(t.label == label for t in trials) for label in LABELS}
    judged = counts["success"] + counts["failure"]
    low, high = wilson_interval(counts["success"], judged)
    return {
        "planned": planned if planned is not None else len(trials),
        "trials": len(trials),
        "counts": counts,
        "judged": judged,
        "success_rate": _number(counts["success"] / judged) if judged else None,
        "wilson95": [_number(low), _number(high)],
        "mean_return_judged": _number(
            np.mean([t.episode_return for t in trials if t.label != "abort"]) if judged else None
        ),
    }


def running_rate(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """After each trial: the success rate over the trials so far not aborted, and its Wilson
    interval (NaN before the first judged trial)."""
    rate, low, high = [], [], []
    wins = judged = 0
    for label in labels:
        wins += label == "success"
        judged += label in ("success", "failure")
        lo, hi = wilson_interval(wins, judged)
        rate.append(wins / judged if judged else math.nan)
        low.append(lo)
        high.append(hi)
    return np.array(rate), np.array(low), np.array(high)


def markdown(report: dict) -> str:
    """The report as a Markdown page: the summary line and the table."""
    s = report["summary"]
    counts = s["counts"]
    if s["judged"]:
        low, high = s["wilson95"]
        rate = (
            f"success {counts['success']} of {s['judged']} judged trials: "
            f"{s['success_rate']:.0%} (Wilson 95 %: {low:.0%} to {high:.0%})"
        )
    else:
        rate = "no judged trial (all aborted): no success rate"
    lines = [
        "# Trial report",
        "",
        f"{s['trials']} of {s['planned']} trial(s); {rate}; "
        f"{counts['abort']} aborted (not counted in the rate).",
        "",
        "| trial | episode | task | label | steps | return | interventions | duration (s) "
        "| setup (s) | wall (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["trials"]:
        share = row["intervention_share"]
        label = row["label"] + (f" ({row['reason']})" if row["label"] == "abort" else "")
        lines.append(
            f"| {row['trial']} | {row['episode']} | {row['task'] or row['task_id']} | {label} | "
            f"{row['steps']} | {_shown(row['return'], '.2f')} | {_shown(share, '.0%')} | "
            f"{_shown(row['duration_s'], '.1f')} | {_shown(row['setup_s'], '.1f')} | "
            f"{_shown(row['wall_s'], '.1f')} |"
        )
    return "\n".join(lines) + "\n"


def _shown(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def plot(trials: Sequence[Trial], path: Path | str) -> None:
    """Outcome per trial (top) and the running success rate with its Wilson interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [t.label for t in trials]
    x = np.arange(1, len(trials) + 1)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    styles = {"success": ("tab:green", "o"), "failure": ("tab:red", "x"), "abort": ("grey", "s")}
    for i, label in enumerate(LABELS):
        picked = [k for k, lab in zip(x, labels, strict=True) if lab == label]
        color, marker = styles[label]
        top.scatter(picked, [2 - i] * len(picked), color=color, marker=marker, s=60, label=label)
    top.set_yticks([2, 1, 0], list(LABELS))
    top.set_ylim(-0.5, 2.5)
    top.set_title("outcome per trial")
    rate, low, high = running_rate(labels)
    bottom.plot(x, rate, "o-", color="tab:blue", label="success rate (not aborted)")
    bottom.fill_between(x, low, high, color="tab:blue", alpha=0.2, label="Wilson 95 %")
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_xlabel("trial")
    bottom.set_ylabel("success rate")
    bottom.legend(fontsize=8, loc="lower right")
    if len(x):
        bottom.set_xticks(x if len(x) <= 20 else np.linspace(1, len(x), 10).round())
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_video(path: Path | str, frames: Sequence[np.ndarray], caption_text: str, fps: float):
    """One trial's frames (RGB [H, W, 3] uint8) as an mp4 with the label captioned (the
    project's writer: tasks/render.py, as training/video.py uses)."""
    from skill_embedding_ros.tasks.render import Mp4Writer, caption

    with Mp4Writer(path, fps) as writer:
        for frame in frames:
            picture = np.array(frame, np.uint8, copy=True)
            caption(picture, caption_text)
            writer.write(picture)


def write_report(
    run_dir: Path | str,
    trials: Sequence[Trial],
    planned: int | None = None,
    frames: Mapping[int, Sequence[np.ndarray]] | None = None,
    fps: float = 10.0,
    with_plot: bool = True,
) -> dict[str, Path]:
    """Write report.json, report.md, report.png (and trial_<k>.mp4 for each trial k in
    `frames`) under `run_dir`/trials/; returns the paths by kind. Files are replaced whole
    (written aside, then renamed), so a reader never sees half a report."""
    folder = Path(run_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    report = {"summary": summarize(trials, planned), "trials": [trial_row(t) for t in trials]}
    paths = {"json": folder / "report.json", "md": folder / "report.md"}
    _replace(paths["json"], json.dumps(report, indent=2) + "\n")
    _replace(paths["md"], markdown(report))
    if with_plot:
        paths["png"] = folder / "report.png"
        aside = folder / ".report.png.tmp.png"
        plot(trials, aside)
        aside.replace(paths["png"])
    by_number = {t.trial: t for t in trials}
    for k, pictures in (frames or {}).items():
        trial = by_number.get(k)
        if trial is None or not len(pictures):
            continue
        paths[f"video_{k}"] = folder / f"trial_{k}.mp4"
        write_video(paths[f"video_{k}"], pictures, f"trial {k}: {trial.label}", fps)
    return paths


def _replace(path: Path, text: str) -> None:
    aside = path.with_name(f".{path.name}.tmp")
    aside.write_text(text)
    aside.replace(path)


def read_report(run_dir: Path | str) -> dict:
    """report.json of a run directory."""
    return json.loads((Path(run_dir) / FOLDER / "report.json").read_text())
