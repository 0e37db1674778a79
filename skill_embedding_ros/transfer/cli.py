"""`skill-embedding transfer`: train a high-level policy over frozen skills on a new task.

skill-embedding transfer --skills RUN_OR_CHECKPOINT --task TASK [--suite SUITE] [--hold K]
                         [--method embedding|selection] [--env-steps N] [--seed S]
                         [--set KEY=VALUE ...] --out DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from skill_embedding_ros.settings.transfer import METHODS


def cmd_transfer(args) -> int:
    from skill_embedding_ros.settings.base import from_dict
    from skill_embedding_ros.settings.transfer import TransferConfig
    from skill_embedding_ros.tasks.registry import get_suite
    from skill_embedding_ros.training.evaluation_run import format_report
    from skill_embedding_ros.transfer.evaluate import write_transfer_evaluation
    from skill_embedding_ros.transfer.model import build_model
    from skill_embedding_ros.transfer.skills import load_skills
    from skill_embedding_ros.transfer.train import CHECKPOINT, run_transfer

    values = {"method": args.method, "hold": args.hold, "seed": args.seed}
    if args.env_steps is not None:
        values["env_steps"] = args.env_steps
    try:  # usage errors, as argparse's: exit 2, nothing written
        for item in args.set:
            key, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"--set expects key=value (settings/transfer.py), got {item!r}")
            values[key] = yaml.safe_load(raw)
        cfg = from_dict(TransferConfig, values)
        skills = load_skills(args.skills)
        suite = get_suite(args.suite or skills.config.train.suite)
        model = build_model(skills, suite, args.task, cfg)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    summary = run_transfer(model, out, str(args.skills), progress=not args.quiet)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(
        f"transferred {summary['env_steps']} env steps, {summary['updates']} updates in "
        f"{summary['minutes']:.1f} min -> {out / CHECKPOINT}"
    )
    report = write_transfer_evaluation(out / CHECKPOINT, args.episodes, out)
    print(format_report(report))
    print(f"wrote {out / 'eval.json'} and {out / 'eval.png'}")
    return 0


def add_subcommand(sub) -> None:
    """The `transfer` subcommand of the `skill-embedding` parser."""
    tr = sub.add_parser(
        "transfer", help="learn z = f(s) over frozen skills for a new task (docs/transfer.md)"
    )
    tr.add_argument("--skills", required=True, help="pre-training run directory or checkpoint")
    tr.add_argument("--task", required=True, help="the new task (of --suite)")
    tr.add_argument(
        "--suite",
        help="suite of the task (default: the skills' own); same joints, and its observation "
        "must begin with the skills' suite's (it may append task state after it)",
    )
    tr.add_argument("--hold", type=int, default=10, help="K: steps each z is held (10)")
    tr.add_argument("--method", choices=METHODS, default="embedding", help="(embedding)")
    tr.add_argument("--env-steps", type=int, help="low-level env steps (20000)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one transfer setting (settings/transfer.py), e.g. alpha=0.01",
    )
    tr.add_argument("--out", required=True, help="run directory")
    tr.add_argument("--episodes", type=int, default=50, help="evaluation episodes")
    tr.add_argument("--quiet", action="store_true", help="no progress lines")
    tr.set_defaults(func=cmd_transfer)
