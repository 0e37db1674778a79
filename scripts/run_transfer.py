"""The transfer grid (docs/transfer.md): methods x holds x seeds, two runs at a time.

    python scripts/run_transfer.py --task sequence --out results [--holds 1 10] [--seeds 0 1 2]
        [--env-steps 20000] [--skills DIR] [--skills-no-inference DIR] [--dry-run]
    python scripts/run_transfer.py --suite jaco_velocity --task rail_push \
        --pretrain-config jaco_pretrain.yaml --scratch-config jaco_pretrain.yaml \
        --skills DIR --skills-no-inference DIR --env-steps 1000000

Methods, all with the same low-level env-step budget on SUITE's TASK (default the point mass's
`reach_transfer`):
* embedding: HL(z|s) over skills pre-trained with PRETRAIN_CONFIG (config/reach_tasks.yaml);
* selection: a categorical over those skills' pre-training task ids, each its code;
* embedding_no_inference: HL(z|s) over skills pre-trained with agent.alpha2 = 0;
* scratch: a flat policy learned on the task itself (SCRATCH_CONFIG, by default
  config/reach_no_embedding.yaml, with agent.embedding=none; the hold does not apply: one row
  per seed);
* embedding_graph: the embedding method through the ROS 2 graph (`skill-embedding launch
  train_sim transfer:=FILE`, 2 actors, the file written into the run directory), then the same
  evaluation in process. Not in the default grid: `--methods embedding_graph --jobs 1` (a graph
  uses both cores).
Skills directories without a checkpoint are pre-trained first (`--pretrain-steps` to shorten).
Writes results/transfer_<task>.csv, one row per run with its command and the commit; each run's
directory (checkpoint, eval.json, progress.jsonl) lies under results/runs/transfer_<task>/.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from skill_embedding_ros.provenance import runs_commit

COMMAND = "python scripts/run_transfer.py " + " ".join(sys.argv[1:])
CLI = [sys.executable, "-m", "skill_embedding_ros.cli"]
METHODS = ("embedding", "selection", "embedding_no_inference", "scratch")
GRAPH = "embedding_graph"
SKILLS = "results/runs/transfer_skills"
"""Where the grid's own skills are pre-trained when absent (results/runs/reach_tasks_seed* keep
no checkpoint, and the pre-training rows there are not to be overwritten)."""


def pretrain_command(out: Path, no_inference: bool, args) -> list[str]:
    cmd = [*CLI, "train", "--config", args.pretrain_config, "--seed", "0", "--out", str(out)]
    cmd += ["--quiet", "--episodes", "20"]
    cmd += ["--set", "agent.alpha2=0"] if no_inference else []
    steps = args.pretrain_steps
    return cmd + (["--set", f"train.env_steps={steps}"] if steps else [])


def cell_command(method: str, hold: int, seed: int, run_dir: Path, args) -> list[str]:
    if method == "scratch":
        return [
            *CLI, "train", "--config", args.scratch_config, "--seed", str(seed),
            "--out", str(run_dir), "--quiet", "--set", "agent.embedding=none",
            "--set", f"train.suite={args.suite}",
            "--set", f"train.tasks=[{args.task}]", "--set", f"train.env_steps={args.env_steps}",
        ]  # fmt: skip
    if method == GRAPH:
        run_file = run_dir / "transfer.yaml"
        return [
            *CLI, "launch", "train_sim", "actors:=2", f"transfer:={run_file}",
            f"suite:={args.suite}", f"run_dir:={run_dir}", f"seed:={seed}",
        ]  # fmt: skip
    skills = args.skills_no_inference if method == "embedding_no_inference" else args.skills
    return [
        *CLI, "transfer", "--skills", str(skills), "--suite", args.suite, "--task", args.task,
        "--hold", str(hold), "--method", "selection" if method == "selection" else "embedding",
        "--env-steps", str(args.env_steps), "--seed", str(seed), "--out", str(run_dir),
        "--quiet", *(a for kv in args.set for a in ("--set", kv)),
    ]  # fmt: skip


def run_cell(method: str, hold: int, seed: int, args) -> dict:
    name = f"{method}_hold{hold}_seed{seed}" if method != "scratch" else f"scratch_seed{seed}"
    run_dir = Path(args.out) / "runs" / f"transfer_{args.task}" / name
    cmd = cell_command(method, hold, seed, run_dir, args)
    row = {"task": args.task, "method": method, "hold": hold if method != "scratch" else ""}
    row |= {"seed": seed, "commit": runs_commit(), "command": COMMAND, "run": shlex.join(cmd)}
    start = time.time()
    env = None
    if method == GRAPH:  # its own transfer file and ROS domain; evaluated in process after
        run_dir.mkdir(parents=True, exist_ok=True)
        transfer = {"method": "embedding", "hold": hold, "env_steps": args.env_steps}
        for key, value in (kv.split("=", 1) for kv in args.set):  # checked when it is read
            transfer[key] = yaml.safe_load(value)
        (run_dir / "transfer.yaml").write_text(
            json.dumps({"skills": str(args.skills), "suite": args.suite, "task": args.task,
                        "transfer": transfer})
        )  # fmt: skip
        env = dict(
            os.environ, ROS_DOMAIN_ID=str(70 + seed), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST"
        )
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode == 0 and method == GRAPH:
        proc = subprocess.run([*CLI, "evaluate", str(run_dir)], capture_output=True, text=True)
    row["wall_minutes"] = round((time.time() - start) / 60, 1)
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return {**row, "error": proc.returncode}
    report = json.loads((run_dir / "eval.json").read_text())
    task = report["per_task"][0]
    row |= {
        "env_steps": report["env_steps"],
        "success": task["success_rate"],
        "solutions": task["distinct_solutions"],
        "return": round(task["mean_return"], 2),
        "return_std": round(task["return_std"], 2),
        "touched": task["touched_rate"],
    }
    print(f"{name}: {row['success']:.0%} success, return {row['return']}", flush=True)
    return row


def cell_key(row: dict) -> tuple[str, str, str]:
    return (str(row["method"]), str(row["hold"]), str(row["seed"]))


def write_rows(out: Path, rows: list[dict]) -> None:
    """Merge rows into OUT: a cell run again replaces its old row, other cells' rows stay (a
    grid may run a method or a seed at a time, across sessions)."""
    kept = []
    if out.is_file():
        with open(out, newline="") as f:
            kept = list(csv.DictReader(f))
    new = {cell_key(row) for row in rows}
    merged = [row for row in kept if cell_key(row) not in new] + rows
    fields = list(dict.fromkeys(k for row in merged for k in row))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fields, restval="")
        writer.writeheader()
        writer.writerows(merged)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="reach_transfer", help="suite of the task")
    p.add_argument("--task", required=True, help="e.g. sequence, between (reach_transfer)")
    p.add_argument("--pretrain-config", default="reach_tasks.yaml", help="of absent skills")
    p.add_argument("--scratch-config", default="reach_no_embedding.yaml")
    p.add_argument("--out", default="results")
    p.add_argument("--methods", nargs="+", choices=[*METHODS, GRAPH], default=list(METHODS))
    p.add_argument("--holds", nargs="+", type=int, default=[1, 10])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--env-steps", type=int, default=20_000)
    p.add_argument("--skills", default=f"{SKILLS}/reach_tasks_seed0")
    p.add_argument("--skills-no-inference", default=f"{SKILLS}/reach_tasks_no_inference_seed0")
    p.add_argument("--pretrain-steps", type=int, help="env steps of skills pre-trained here")
    p.add_argument("--jobs", type=int, default=2, help="runs side by side (one torch thread each)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a transfer setting for every transfer cell (settings/transfer.py), e.g. "
        "skill_actions=mean; scratch runs do not take it",
    )
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = p.parse_args()

    needed = [args.skills] if {"embedding", "selection", GRAPH} & set(args.methods) else []
    needed += [args.skills_no_inference] if "embedding_no_inference" in args.methods else []
    pretrain = [  # only the skills the chosen methods use, and only where none are saved
        pretrain_command(Path(d), d == args.skills_no_inference, args)
        for d in needed
        if not any(
            (Path(d) / f).is_file() for f in ("checkpoint.safetensors", "policy.safetensors")
        )
    ]
    cells = [
        (m, h, s)
        for m in args.methods
        for h in (args.holds if m != "scratch" else args.holds[:1])
        for s in args.seeds
    ]
    if args.dry_run:
        for cmd in pretrain:
            print(shlex.join(cmd))
        for cell in cells:
            print(shlex.join(cell_command(*cell, Path("RUN_DIR"), args)))
        return 0
    with ThreadPoolExecutor(args.jobs) as pool:
        for proc in pool.map(lambda c: subprocess.run(c, capture_output=True), pretrain):
            if proc.returncode:
                print(proc.stderr.decode()[-2000:], file=sys.stderr)
                return 1
        rows = list(pool.map(lambda cell: run_cell(*cell, args), cells))
    out = Path(args.out) / f"transfer_{args.task}.csv"
    write_rows(out, rows)
    print(f"wrote {len(rows)} rows into {out}")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
