"""`skill-embedding`: one command line for the project's jobs.

skill-embedding train    --config config/reach_bernoulli.yaml [--set agent.alpha2=0] [--seed 3]
skill-embedding evaluate RUN_DIR_OR_CHECKPOINT [--episodes 50]
skill-embedding launch   GRAPH [name:=value ...] [--describe]   (--list: the graphs)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from skill_embedding_ros.core.config import load_run_config


def _format_report(report: dict) -> str:
    lines = [
        f"suite {report['suite']}: {report['episodes_per_task']} episodes per task, "
        f"z ~ p(z|t), mean actions"
    ]
    lines.append(f"{'task':>12} {'success':>8} {'solutions':>9}  episodes per region")
    for row in report["per_task"]:
        lines.append(
            f"{'t' + str(row['task_id']) + ' ' + row['task']:>12} "
            f"{row['success_rate']:>8.0%} {row['distinct_solutions']:>9}  "
            f"{row['episodes_per_region']}"
        )
    if len(report["tasks"]) > 1:
        lines.append("KL(p(z|t_i) || p(z|t_j)) in nats:")
        for i, row in enumerate(report["kl"]):
            lines.append(f"  t{i}: " + " ".join(f"{v:8.3f}" for v in row))
    return "\n".join(lines)


def run_evaluation(checkpoint: Path, episodes: int, out_dir: Path) -> dict:
    from skill_embedding_ros.core.evaluate import evaluate, plot_evaluation
    from skill_embedding_ros.core.trainer import load_networks
    from skill_embedding_ros.envs import get_suite

    try:
        nets, cfg, meta = load_networks(checkpoint)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"error: {err}") from None
    suite = get_suite(cfg.train.suite)
    report, rollouts = evaluate(nets, suite, list(cfg.train.tasks), episodes)
    report["checkpoint"] = str(checkpoint)
    report["env_steps"] = meta.get("env_steps")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps(report, indent=1))
    plot_evaluation(report, rollouts, suite, out_dir / "eval.png")
    print(_format_report(report))
    print(f"wrote {out_dir / 'eval.json'} and {out_dir / 'eval.png'}")
    return report


def cmd_train(args) -> int:
    from skill_embedding_ros.core.trainer import Trainer

    try:
        cfg = load_run_config(args.config, args.set, args.seed)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    out = Path(args.out or f"runs/{Path(args.config or 'default').stem}_seed{cfg.train.seed}")
    summary = Trainer(cfg, out, progress=not args.quiet).run()
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(
        f"trained {summary['env_steps']} env steps, {summary['updates']} updates in "
        f"{summary['minutes']:.1f} min -> {out / 'checkpoint.safetensors'}"
    )
    if not args.no_eval:
        run_evaluation(out / "checkpoint.safetensors", args.episodes, out)
    return 0


def cmd_evaluate(args) -> int:
    target = Path(args.run)
    checkpoint = target / "checkpoint.safetensors" if target.is_dir() else target
    try:
        run_evaluation(checkpoint, args.episodes, Path(args.out or checkpoint.parent))
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    return 0


def cmd_launch(args) -> int:
    from skill_embedding_ros.launcher import launch

    return launch(args.graph, args.assignments, args.list, args.describe)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skill-embedding",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train skills in-process (actors + learner)")
    train.add_argument("--config", help="run YAML (a path, or a file name under config/)")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value, e.g. agent.alpha2=0 (repeatable)",
    )
    train.add_argument("--seed", type=int, help="override train.seed")
    train.add_argument("--out", help="run directory (default: runs/<config>_seed<seed>)")
    train.add_argument("--episodes", type=int, default=50, help="evaluation episodes per task")
    train.add_argument("--no-eval", action="store_true", help="skip the final evaluation")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="evaluate a checkpoint: success, solutions, KL, plot")
    ev.add_argument("run", help="run directory or checkpoint.safetensors")
    ev.add_argument("--episodes", type=int, default=50, help="episodes per task (z ~ p(z|t))")
    ev.add_argument("--out", help="where to write eval.json and eval.png (default: beside it)")
    ev.set_defaults(func=cmd_evaluate)

    la = sub.add_parser(
        "launch", help="run a node graph (config/graphs) as processes, like ros2 launch"
    )
    la.add_argument("graph", nargs="?", help="graph name under config/graphs, or a path")
    la.add_argument(
        "assignments", nargs="*", metavar="NAME:=VALUE", help="graph arguments, e.g. actors:=4"
    )
    la.add_argument("--list", action="store_true", help="list the graphs under config/graphs")
    la.add_argument(
        "--describe", action="store_true", help="show the arguments and the nodes; start nothing"
    )
    la.set_defaults(func=cmd_launch)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
