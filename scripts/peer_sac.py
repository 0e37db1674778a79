"""Stable-Baselines3 SAC on a didactic experiment, scored by our evaluation: peer rows beside ours.

    python scripts/peer_sac.py --config reach_bernoulli.yaml --seeds 0 1 2 3 4 \
        --env-steps 120000 --out results/peer_sac [--sac net_arch=[256,256] ...]

The config supplies the suite and its tasks (and so the episode length) and, without
--env-steps, the budget. One SAC policy serves all tasks (task one-hot in its observation;
training/peer_sac.py). Each seed trains in its own process with one torch thread, two at a time,
as scripts/run_experiments.py runs ours. Each run is evaluated twice on our evaluation's episodes:
mean actions (`deterministic`, as our rows act) and sampled actions (`stochastic`: SAC has no z,
so its spread of outcomes comes from action noise alone). Writes <out>_<config>.csv (e.g.
results/peer_sac_reach_bernoulli.csv), one row per seed and action mode, stamped with the command
and commit; each run's weights (safetensors + sac.json), eval.json and plots lie under
<out>/<config>_seed<seed>/.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import yaml

from skill_embedding_ros.provenance import git_commit
from skill_embedding_ros.settings.run import load_run_config

COMMAND = "python scripts/peer_sac.py " + shlex.join(sys.argv[1:])
MODES = {"deterministic": True, "stochastic": False}
# Our rows' column names for the evaluation's per-task keys; any other key keeps its own name.
COLUMNS = {
    "success_rate": "success",
    "distinct_solutions": "solutions",
    "episodes_per_outcome": "regions",
    "mean_return": "return",
}


def sac_settings(items: list[str]):
    """--sac key=value items -> SacSettings (values read as YAML, checked as settings are)."""
    from skill_embedding_ros.settings.base import from_dict
    from skill_embedding_ros.training.peer_sac import SacSettings

    values = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--sac expects key=value, got {item!r}")
        values[key] = yaml.safe_load(raw)
    return from_dict(SacSettings, values, "sac")


def run_seed(args, seed: int) -> None:
    """Train, save and evaluate one seed in this process (the worker side of `main`)."""
    from skill_embedding_ros.tasks.registry import get_suite
    from skill_embedding_ros.training.eval_plot import plot_evaluation
    from skill_embedding_ros.training.peer_sac import evaluate_sac, save_sac, train_sac

    cfg = load_run_config(args.config, seed=seed)
    suite_name, tasks = cfg.train.suite, list(cfg.train.tasks)
    env_steps = args.env_steps or cfg.train.env_steps
    run_dir = run_path(args, seed)
    model, minutes = train_sac(suite_name, tasks, env_steps, seed, sac_settings(args.sac))
    meta = {"seed": seed, "env_steps": env_steps, "minutes": minutes, "config": args.config}
    save_sac(model, run_dir, suite_name, tasks, meta)
    reports = {}
    for mode, deterministic in MODES.items():
        report, rollouts = evaluate_sac(
            model, suite_name, tasks, args.episodes, deterministic=deterministic
        )
        reports[mode] = {**report, "env_steps": env_steps, "minutes": minutes}
        plot_evaluation(report, rollouts, get_suite(suite_name), run_dir / f"eval_{mode}.png")
    (run_dir / "eval.json").write_text(json.dumps(reports, indent=1) + "\n")


def run_path(args, seed: int) -> Path:
    return Path(args.out) / f"{Path(args.config).stem}_seed{seed}"


def run_one(args, seed: int) -> list[dict]:
    """One seed in its own process; its rows (one per action mode)."""
    name = experiment(args)
    cmd = [sys.executable, __file__, "--config", args.config, "--out", args.out]
    cmd += ["--worker", str(seed), "--episodes", str(args.episodes)]
    cmd += ["--env-steps", str(args.env_steps)] if args.env_steps else []
    cmd += [f"--sac={item}" for item in args.sac]
    start, commit = time.time(), git_commit()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return [{"experiment": name, "seed": seed, "actions": "", "error": proc.returncode}]
    reports = json.loads((run_path(args, seed) / "eval.json").read_text())
    rows = [row(name, seed, mode, r, start, commit) for mode, r in reports.items()]
    for r in rows:
        print(f"{name} seed {seed}: {r}", flush=True)
    return rows


def row(name: str, seed: int, mode: str, report: dict, start: float, commit: str) -> dict:
    """A CSV row with our rows' columns: every per-task scalar or mapping of the report, under
    our names (a mapping as "key:value ..."); lists (per-z rows) stay in eval.json."""
    out = {
        "experiment": name,
        "seed": seed,
        "actions": mode,
        "commit": commit,
        "command": COMMAND,
        "env_steps": report["env_steps"],
        "minutes": round(report["minutes"], 1),
        "wall_minutes": round((time.time() - start) / 60, 1),
    }
    for task in report["per_task"]:
        key = f"t{task['task_id']}_{task['task']}"
        metrics = {
            k: v
            for k, v in task.items()
            if k not in ("task_id", "task") and not isinstance(v, list)
        }
        known = [k for k in COLUMNS if k in metrics]
        for k in known + [k for k in metrics if k not in COLUMNS]:
            value = metrics[k]
            if isinstance(value, dict):
                value = " ".join(f"{g}:{_rounded(n)}" for g, n in value.items())
            out[f"{key}_{COLUMNS.get(k, k)}"] = _rounded(value)
    return out


def _rounded(value):
    return round(value, 4) if isinstance(value, float) else value


def experiment(args) -> str:
    return f"{Path(args.out).name}_{Path(args.config).stem}"


def write_csv(path: Path, rows: list[dict]) -> None:
    """The rows, one per (seed, actions); rows of seeds this invocation did not run are kept
    from the file, so seeds can run in batches."""
    mine = {(int(r["seed"]), r["actions"]): r for r in rows}
    if path.exists():
        with open(path, newline="") as f:
            for old in csv.DictReader(line for line in f if not line.startswith("#")):
                mine.setdefault((int(old["seed"]), old["actions"]), old)
    ordered = [mine[k] for k in sorted(mine)]
    fields = list(dict.fromkeys(k for r in ordered for k in r))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write("# one row per seed and action mode; each names the command and commit\n")
        writer = csv.DictWriter(f, fields, restval="")
        writer.writeheader()
        writer.writerows(ordered)
    print(f"wrote {path} ({len(ordered)} rows)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config", required=True, help="experiment YAML (under config/ or a path)"
    )
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--env-steps", type=int, help="budget (default: the config's)")
    parser.add_argument("--out", default="results/peer_sac")
    parser.add_argument("--episodes", type=int, default=50, help="evaluation episodes per task")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument(
        "--sac", action="append", default=[], metavar="KEY=VALUE", help="a SacSettings value"
    )
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:  # usage errors before any process starts
        load_run_config(args.config)
        sac_settings(args.sac)
    except ValueError as err:
        parser.error(str(err))
    if args.worker is not None:
        run_seed(args, args.worker)
        return
    csv_path = Path(args.out).parent / f"{experiment(args)}.csv"
    rows: list[dict] = []
    with ThreadPoolExecutor(args.parallel) as pool:
        for future in as_completed([pool.submit(run_one, args, s) for s in args.seeds]):
            # Rewrite the CSV after every run, so stopping keeps the rows already measured.
            rows += future.result()
            write_csv(csv_path, rows)


if __name__ == "__main__":
    main()
