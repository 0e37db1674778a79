"""`evaluate` as the command line runs it (after `train` too): score a checkpoint (skills, or
a transfer policy over frozen skills), write eval.json, eval.png and optional videos beside it,
and print the per-task table (`format_report`)."""

from __future__ import annotations

import json
from pathlib import Path


def format_report(report: dict) -> str:
    scoring = report["scoring"]
    lines = [
        f"suite {report['suite']}: {report['episodes_per_task']} episodes per task, "
        f"{report.get('agent', 'z ~ p(z|t), mean actions')}; success: ends in a solution after >= "
        f"{scoring['stay_share']:.0%} of the steps in it; a solution needs >= "
        f"{scoring['min_share']:.0%} of the episodes (touched: the old rule)"
    ]
    lines.append(
        f"{'task':>12} {'success':>8} {'touched':>8} {'solutions':>9} {'return':>13} "
        f"{'z consistency':>13}  episodes per outcome (touched)"
    )
    for row in report["per_task"]:
        consistency = row.get("z_consistency")
        shown = "-" if consistency is None else f"{consistency:.0%}"
        lines.append(
            f"{'t' + str(row['task_id']) + ' ' + row['task']:>12} "
            f"{row['success_rate']:>8.0%} {row['touched_rate']:>8.0%} "
            f"{row['distinct_solutions']:>5} ({row['touched_solutions']}) "
            f"{row['mean_return']:>6.1f} ± {row['return_std']:<4.1f} {shown:>13}  "
            f"{row['episodes_per_outcome']} ({row['touched_outcomes']})"
        )
        for z in row.get("per_z") or []:
            did = f"{z['consistency']:.0%} end in region {z['region']}"
            shown = did if z["region"] >= 0 else "none ends in a solution"
            lines.append(f"{'':>14}z {z['z']}: {z['episodes']} episodes, {shown}")
    if report.get("env_steps_to_solutions"):
        lines.append(f"env steps until the target solutions: {report['env_steps_to_solutions']}")
    if len(report["tasks"]) > 1 and "kl" in report:
        lines.append("KL(p(z|t_i) || p(z|t_j)) in nats:")
        for i, row in enumerate(report["kl"]):
            lines.append(f"  t{i}: " + " ".join(f"{v:8.3f}" for v in row))
    return "\n".join(lines)


def run_evaluation(checkpoint: Path, episodes: int, out_dir: Path, video: int = 0) -> dict:
    from skill_embedding_ros.agent.run_networks import load_networks
    from skill_embedding_ros.tasks.registry import get_suite
    from skill_embedding_ros.training.eval_plot import plot_evaluation
    from skill_embedding_ros.training.evaluate import evaluate
    from skill_embedding_ros.transfer.model import is_transfer_checkpoint

    if is_transfer_checkpoint(checkpoint):  # frozen skills + a high-level policy
        from skill_embedding_ros.transfer.evaluate import write_transfer_evaluation

        report = write_transfer_evaluation(checkpoint, episodes, out_dir)
        print(format_report(report))
        print(f"wrote {out_dir / 'eval.json'} and {out_dir / 'eval.png'}")
        return report
    try:
        nets, cfg, meta = load_networks(checkpoint)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"error: {err}") from None
    suite = get_suite(cfg.train.suite)
    tasks = list(cfg.train.tasks)
    report, rollouts = evaluate(nets, suite, tasks, episodes, z_hold=cfg.train.z_hold)
    report["checkpoint"] = str(checkpoint)
    report["env_steps"] = meta.get("env_steps")
    # The periodic evaluation's curve (train.eval_every) lies in the run's summary.json.
    summary = checkpoint.parent / "summary.json"
    if summary.is_file():
        periodic = json.loads(summary.read_text()).get("periodic_eval") or {}
        for key in ("env_steps_to_solutions", "solutions_target"):
            if key in periodic:
                report[key] = periodic[key]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps(report, indent=1))
    plot_evaluation(report, rollouts, suite, out_dir / "eval.png")
    print(format_report(report))
    print(f"wrote {out_dir / 'eval.json'} and {out_dir / 'eval.png'}")
    if video:
        from skill_embedding_ros.training.video import skill_videos

        paths = skill_videos(
            nets, suite, tasks, out_dir / "videos", episodes, video, cfg.train.z_hold
        )
        print(
            f"wrote {len(paths)} video(s) of the first {video} episodes per task to "
            f"{out_dir / 'videos'}"
        )
    return report
