"""`skill-embedding`: one command line for the project's jobs.

skill-embedding train    --config config/reach_bernoulli.yaml [--set agent.alpha2=0] [--seed 3]
skill-embedding evaluate RUN_DIR_OR_CHECKPOINT [--episodes 50] [--video [N]]
skill-embedding launch   GRAPH [name:=value ...] [--describe] [--only PATTERNS]  (--list)
skill-embedding record   OUT [TOPIC_PATTERN ...] [--storage sqlite3] [--duration S]
skill-embedding ingest   BAG [BAG ...] --into STORE [--task NAME | --task-topic TOPIC]
skill-embedding transfer --skills RUN --task TASK [--suite S] [--hold K] [--method M] --out DIR
skill-embedding estop    latch|release [--namespace arm]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
from pathlib import Path

from skill_embedding_ros.ros.estop_cli import add_subcommand as add_estop_command
from skill_embedding_ros.security.keystore import add_subcommand as add_keystore_command
from skill_embedding_ros.settings.run import add_set_option, load_run_config
from skill_embedding_ros.training.evaluation_run import run_evaluation
from skill_embedding_ros.transfer.cli import add_subcommand as add_transfer_command


def cmd_train(args) -> int:
    from skill_embedding_ros.training.trainer import Trainer

    try:
        cfg = load_run_config(args.config, args.set, args.seed)
    except ValueError as err:  # a usage error, as argparse's: exit 2, nothing written
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out or f"runs/{Path(args.config or 'default').stem}_seed{cfg.train.seed}")
    try:
        trainer = Trainer(cfg, out, progress=not args.quiet, start_from=args.start_from)
    except (OSError, ValueError) as err:  # --start-from missing, unreadable or not fitting
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = trainer.run()
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(
        f"trained {summary['env_steps']} env steps, {summary['updates']} updates in "
        f"{summary['minutes']:.1f} min -> {out / 'checkpoint.safetensors'}"
    )
    if "stopped_by" in summary:
        print(
            f"stopped by {summary['stopped_by']} before the {cfg.train.env_steps} env steps "
            f"(no evaluation); go on with --start-from {out / 'checkpoint.safetensors'}"
        )
        return 128 + signal.Signals[summary["stopped_by"]].value  # as a shell reports it
    if not args.no_eval:
        run_evaluation(out / "checkpoint.safetensors", args.episodes, out)
    return 0


def cmd_evaluate(args) -> int:
    from skill_embedding_ros.agent.checkpoint import ACTOR_CHECKPOINT

    target = Path(args.run)
    checkpoint = target
    if target.is_dir():
        # A committed results row keeps only the small actor checkpoint (.gitignore).
        checkpoint = target / "checkpoint.safetensors"
        if not checkpoint.is_file() and (target / ACTOR_CHECKPOINT).is_file():
            checkpoint = target / ACTOR_CHECKPOINT
    if not 0 <= args.video <= args.episodes:
        raise SystemExit(f"error: --video {args.video}: films 1..{args.episodes} (--episodes)")
    if args.video:
        from skill_embedding_ros.tasks.render import check_rendering, request_offscreen

        request_offscreen()  # before anything imports mujoco: it picks its backend once
        try:
            check_rendering()  # now, not after the evaluation
        except RuntimeError as err:
            raise SystemExit(f"error: --video: {err}") from None
    try:
        run_evaluation(checkpoint, args.episodes, Path(args.out or checkpoint.parent), args.video)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    return 0


def cmd_launch(args) -> int:
    from skill_embedding_ros.launch.launcher import launch

    return launch(args.graph, args.assignments, args.list, args.describe, args.keystore, args.only)


def cmd_record(args) -> int:
    from skill_embedding_ros.ros.bag_recorder import main as record

    params = {
        "out": args.out,
        "topics": json.dumps(args.topics or ["*"]),
        "storage": args.storage,
        "duration": float(args.duration),
        "log_time": args.log_time,
    }
    ros_args = [arg for k, v in params.items() for arg in ("-p", f"{k}:={v}")]
    return record(["skill-embedding-record", "--ros-args", *ros_args])


def cmd_ingest(args) -> int:
    """Exit 0: every bag stored (or already in the store); 1: a bag left nothing usable;
    2: bad arguments or the store is in use."""
    from skill_embedding_ros.data.bags.align import AlignConfig
    from skill_embedding_ros.data.bags.ingest import IngestOptions, ingest
    from skill_embedding_ros.data.bags.label import checkpoint_labeller
    from skill_embedding_ros.tasks.registry import get_suite

    try:
        label, label_source = None, ""
        if args.checkpoint and args.set:
            raise ValueError("--set changes --config's values; a --checkpoint brings its own")
        if args.checkpoint:
            from skill_embedding_ros.agent.run_networks import load_networks

            nets, cfg, _ = load_networks(args.checkpoint)
            label_source = f"q_psi of checkpoint {_file_digest(args.checkpoint)}"
        else:
            cfg = load_run_config(args.config, tuple(args.set))
        suite = get_suite(cfg.train.suite)
        if args.checkpoint:
            label = checkpoint_labeller(nets, suite)
        remap = dict(_remap(item) for item in args.remap)
        align = AlignConfig(
            suite=suite,
            tasks=tuple(cfg.train.tasks),
            z_dim=cfg.agent.z_dim,
            task=args.task,
            task_topic=args.task_topic,
            tolerance=args.tolerance,
            min_steps=args.min_steps,
            remap=remap,
            namespace=args.namespace,
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    options = IngestOptions(
        kind=args.kind, align=align, label=label, label_source=label_source, force=args.force
    )
    try:
        code, summaries = ingest(args.bags, args.into, options, progress=not args.quiet)
    except RuntimeError as err:  # the store is held by a running recorder
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.summary:
        Path(args.summary).write_text(
            json.dumps([dataclasses.asdict(s) for s in summaries], indent=1)
        )
    return code


def _file_digest(path: str) -> str:
    """BLAKE2b of a file's bytes: names a checkpoint by content, not by path, in a chunk's
    ingest fingerprint (the same weights copied elsewhere compare equal)."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _remap(item: str) -> tuple[str, str]:
    name, sep, topic = item.partition(":=")
    if not sep or not name or not topic:
        raise ValueError(
            f"--remap expects NAME:=TOPIC (e.g. joint_states:=/arm/joint_states), got {item!r}"
        )
    return name, topic


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skill-embedding",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train skills in-process (actors + learner)")
    train.add_argument("--config", help="run YAML (a path, or a file name under config/)")
    add_set_option(train)
    train.add_argument("--seed", type=int, help="override train.seed")
    train.add_argument("--out", help="run directory (default: runs/<config>_seed<seed>)")
    train.add_argument("--episodes", type=int, default=50, help="evaluation episodes per task")
    train.add_argument("--no-eval", action="store_true", help="skip the final evaluation")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--start-from",
        default="",
        metavar="CHECKPOINT",
        help="start with this checkpoint's networks (all of a checkpoint.safetensors; the "
        "embedding and policy of a policy.safetensors), e.g. to go on training a run; replay, "
        "optimizer and counts start afresh; the networks must fit the config's",
    )
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="evaluate a checkpoint: success, solutions, KL, plot")
    ev.add_argument("run", help="run directory or checkpoint.safetensors")
    ev.add_argument("--episodes", type=int, default=50, help="episodes per task (z ~ p(z|t))")
    ev.add_argument("--out", help="where to write eval.json and eval.png (default: beside it)")
    ev.add_argument(
        "--video",
        type=int,
        nargs="?",
        const=3,
        default=0,
        metavar="N",
        help="also film the first N (3) evaluation episodes of each task, side by side, into "
        "OUT/videos/t<id>_<task>.mp4 (needs libosmesa6; sets MUJOCO_GL=osmesa when unset)",
    )
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
    la.add_argument(
        "--keystore",
        metavar="DIR",
        help="run every node in its own enclave of this SROS2 keystore, DDS security enforced "
        "(needs a Fast DDS with security: a ROS 2 install, not the pip wheels; docs/security.md)",
    )
    la.add_argument(
        "--only",
        default="",
        metavar="PATTERNS",
        help="start only the nodes whose labels match these comma-separated patterns (e.g. "
        "'actor_*' or 'learner,replay_recorder'); the rest runs on other hosts "
        "(docs/multi_host.md)",
    )
    la.set_defaults(func=cmd_launch)

    rec = sub.add_parser(
        "record", help="record topics of a running graph into a rosbag2 bag (no ros2 bag needed)"
    )
    rec.add_argument("out", help="bag directory to create")
    rec.add_argument(
        "topics", nargs="*", help="topic names or patterns, e.g. '/actor_*/step_records' (all)"
    )
    rec.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    rec.add_argument("--duration", type=float, default=0.0, help="seconds; 0: until Ctrl-C")
    rec.add_argument(
        "--log-time",
        choices=["send", "receive"],
        default="send",
        help="log time of a message: its publisher's send time (keeps causal order) or the "
        "reception time (as ros2 bag record)",
    )
    rec.set_defaults(func=cmd_record)

    ing = sub.add_parser(
        "ingest", help="rebuild replay episodes from rosbags into a store (docs/rosbags.md)"
    )
    ing.add_argument("bags", nargs="+", help="rosbag2 directories, .mcap/.db3 files, ROS 1 .bag")
    ing.add_argument("--into", required=True, metavar="STORE", help="replay store directory")
    ing.add_argument(
        "--kind",
        choices=["auto", "records", "robot"],
        default="auto",
        help="records: the per-step record topics; robot: align robot topics (auto: records "
        "when the bag has any)",
    )
    ing.add_argument("--config", help="run YAML: suite, tasks, z size (robot topics)")
    add_set_option(ing, "'train.tasks=[spring, wall]' (--config's; robot topics)")
    ing.add_argument(
        "--checkpoint", help="label each episode's z with this run's q(z|a,s^H) (and its config)"
    )
    ing.add_argument("--task", help="task name of every state (robot topics)")
    ing.add_argument("--task-topic", help="std_msgs/String topic naming the task instead")
    ing.add_argument(
        "--remap",
        action="append",
        default=[],
        metavar="NAME:=TOPIC",
        help="robot topic in the bag, e.g. joint_states:=/arm/joint_states (repeatable)",
    )
    ing.add_argument("--namespace", help="only the robot topics under this namespace")
    ing.add_argument(
        "--tolerance",
        type=float,
        help="seconds between a state's and a pose's stamps (default: a quarter period)",
    )
    ing.add_argument("--min-steps", type=int, default=1, help="drop shorter segments")
    ing.add_argument(
        "--force",
        action="store_true",
        help="store a bag already ingested again, replacing its earlier chunk(s)",
    )
    ing.add_argument("--summary", help="also write the per-bag summaries to this JSON file")
    ing.add_argument("--quiet", action="store_true", help="no progress bar")
    ing.set_defaults(func=cmd_ingest)
    add_keystore_command(sub)  # skill-embedding keystore KEYSTORE --graph train_sim actors:=2
    add_transfer_command(sub)
    add_estop_command(sub)  # skill-embedding estop release --namespace arm
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
