"""`make demo` against the same run in process: wall time of each and the env steps each needs
until the four solutions (the periodic evaluation, train.eval_every), side by side in one run.

    python benchmarks/bench_demo.py --out benchmarks/results_demo.json
    python benchmarks/bench_demo.py --env-steps 4000 --out /tmp/demo.json   # smoke check

The graph is what `make demo` launches (`skill-embedding launch train_sim actors:=2
compose:=true`, each actor's nodes in one process, `--separate` for every node its own, over
DDS on its own ROS_DOMAIN_ID with discovery kept on this host); the
in-process run is `skill-embedding train` on the same config and seed (one actor inline, one
core). Both train to the config's budget and are evaluated by the same code. The graph is not
deterministic (two actors race), so its env steps to the solutions vary from run to run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from skill_embedding_ros.provenance import machine, runs_commit

CONFIG = Path(__file__).resolve().parents[1] / "config" / "reach_bernoulli.yaml"
DOMAIN = 77
"""ROS_DOMAIN_ID of the graph: apart from the test suite's and the experiments' domains."""


def _timed(argv: list[str], env: dict, log: Path) -> float:
    """Run argv to the end (its output to log); wall minutes. Fails loudly on a non-zero exit."""
    start = time.perf_counter()
    with open(log, "w") as f:
        code = subprocess.run(argv, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    if code != 0:
        sys.exit(f"{shlex.join(argv)} exited with {code}; see {log}")
    return (time.perf_counter() - start) / 60


def _steps_to_solutions(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    return summary.get("periodic_eval", {}).get("env_steps_to_solutions", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results_demo.json")
    parser.add_argument("--env-steps", type=int, help="budget (default: the config's, 120 k)")
    parser.add_argument("--logs", help="keep the runs and their logs here (default: a temp dir)")
    parser.add_argument(
        "--separate", action="store_true", help="every node its own process (no compose:=true)"
    )
    args = parser.parse_args()
    work = Path(args.logs or tempfile.mkdtemp(prefix="bench_demo_"))
    work.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(CONFIG.read_text())
    if args.env_steps:
        config["train"]["env_steps"] = args.env_steps
        config["train"]["eval_every"] = min(config["train"]["eval_every"], args.env_steps // 4)
    run_config = work / "demo.yaml"
    run_config.write_text(yaml.safe_dump(config))
    cli = [sys.executable, "-m", "skill_embedding_ros.cli"]
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    load_start = os.getloadavg()[0]

    graph_dir, inproc_dir = work / "graph", work / "in_process"
    compose = [] if args.separate else ["compose:=true"]
    launch = ["launch", "train_sim", "actors:=2", *compose, f"config:={run_config}"]
    graph_min = _timed([*cli, *launch, f"run_dir:={graph_dir}"], env, work / "graph.log")
    train = ["train", "--config", str(run_config), "--out", str(inproc_dir), "--quiet"]
    inproc_min = _timed([*cli, *train, "--no-eval"], env, work / "in_process.log")

    results = {
        "command": "python " + shlex.join(sys.argv),
        "commit": runs_commit(),
        "machine": machine(),
        "load_average_1min_at_start": round(load_start, 2),
        "config": str(CONFIG.name),
        "env_steps": config["train"]["env_steps"],
        "graph": shlex.join(a for a in launch if not a.startswith("config:=")),
        "eval_every": config["train"]["eval_every"],
        "graph_minutes": round(graph_min, 2),
        "in_process_minutes": round(inproc_min, 2),
        "graph_vs_in_process_wall": round(graph_min / inproc_min, 2),
        "graph_env_steps_to_solutions": _steps_to_solutions(graph_dir),
        "in_process_env_steps_to_solutions": _steps_to_solutions(inproc_dir),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "runs": str(work),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
