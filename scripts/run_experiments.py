"""The didactic experiments behind results/: several configs x seeds, two runs at a time.

    python scripts/run_experiments.py --out results [--only reach_bernoulli ...] [--seeds 0 1 2]

Each run is `skill-embedding train` in its own process (one torch thread), so two runs share a
2-core machine. Writes results/<experiment>.csv (one row per seed), stamped with the command and
the commit that produced it; each run's directory (checkpoint, eval.json, eval.png) lies under
results/runs/.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from skill_embedding_ros.provenance import runs_commit

COMMAND = "python scripts/run_experiments.py " + " ".join(sys.argv[1:])

# The paper's Gaussian found 2 of the 4 regions: its rows report the env steps until 2 solutions.
GAUSSIAN_TARGET = "train.solutions_target=2"
# The paper's networks and learning rate (settings/run.py's defaults), as overrides.
PAPER_NETS = ["agent.hidden=[100, 100]", "agent.critic_hidden=[200, 200]", "agent.lr=1e-4"]
# name -> (config file under config/, overrides)
EXPERIMENTS = {
    "reach_bernoulli": ("reach_bernoulli.yaml", []),
    "reach_bernoulli_no_inference": ("reach_bernoulli.yaml", ["agent.alpha2=0"]),
    "reach_gaussian": ("reach_gaussian.yaml", [GAUSSIAN_TARGET]),
    "reach_gaussian_no_inference": ("reach_gaussian.yaml", ["agent.alpha2=0", GAUSSIAN_TARGET]),
    "reach_tasks": ("reach_tasks.yaml", []),
    "push_bernoulli": ("push_bernoulli.yaml", []),
    # The Gaussian with the Bernoulli row's q(z | a, s^H), alphas and budget (like for like).
    "reach_gaussian_paper_q": ("reach_gaussian_paper_q.yaml", [GAUSSIAN_TARGET]),
    # The no-embedding ablation: z fixed at zeros, everything else as reach_bernoulli.
    "reach_no_embedding": ("reach_no_embedding.yaml", []),
    # The paper's third didactic experiment: force control, two tasks, with and without q.
    "reach_force": ("reach_force.yaml", []),
    "reach_force_no_inference": ("reach_force.yaml", ["agent.alpha2=0"]),
    # The paper's networks, Adam 1e-4 and alphas, beside the tuned rows.
    "reach_bernoulli_paper": ("paper/reach_bernoulli.yaml", []),
    "reach_gaussian_paper": ("paper/reach_gaussian.yaml", [GAUSSIAN_TARGET]),
    "reach_tasks_paper": ("paper/reach_tasks.yaml", []),
    # The paper's networks and Adam 1e-4 with the tuned alphas: which of the two departures
    # the paper row's difference comes from.
    "reach_bernoulli_paper_nets": ("reach_bernoulli.yaml", PAPER_NETS),
    # The learner in mixed precision (agent.precision: bfloat16; not in the paper), the rest as
    # reach_bernoulli: whether the faster arithmetic learns the same skills.
    "reach_bernoulli_bfloat16": ("reach_bernoulli.yaml", ["agent.precision=bfloat16"]),
}
# The same experiment through the ROS 2 training graph (2 actors, recorder, learner; every node
# its own process over DDS). A graph uses both cores: these run one at a time.
GRAPH_EXPERIMENTS = {
    "graph_reach_bernoulli": ("reach_bernoulli.yaml", 2),
    # The same across two "hosts": the learner and recorder in one network namespace, the two
    # actors in another, DDS over a veth pair (docs/multi_host.md; needs root).
    "graph_two_hosts_reach_bernoulli": ("reach_bernoulli.yaml", 2),
}
TWO_HOSTS = {"graph_two_hosts_reach_bernoulli"}


def run_one(name: str, seed: int, out: Path, eval_every: int = 0) -> dict:
    config, overrides = EXPERIMENTS[name]
    run_dir = out / "runs" / f"{name}_seed{seed}"
    cmd = [
        sys.executable,
        "-m",
        "skill_embedding_ros.cli",
        "train",
        "--config",
        config,
        "--seed",
        str(seed),
        "--out",
        str(run_dir),
        "--quiet",
    ]
    # Evaluation during training runs on its own envs and generators: the training is the same.
    for o in [*overrides, f"train.eval_every={eval_every}"]:
        cmd += ["--set", o]
    start, commit = time.time(), runs_commit()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return {"experiment": name, "seed": seed, "error": proc.returncode}
    summary = json.loads((run_dir / "summary.json").read_text())
    return _row(name, seed, run_dir, summary["minutes"], start, commit)


def _row(name: str, seed: int, run_dir: Path, minutes: float, start: float, commit: str) -> dict:
    report = json.loads((run_dir / "eval.json").read_text())
    row = {
        "experiment": name,
        "seed": seed,
        "commit": commit,
        "command": COMMAND,
        "env_steps": report["env_steps"],
        "minutes": round(minutes, 1),
        "wall_minutes": round((time.time() - start) / 60, 1),
    }
    scoring = report["scoring"]
    # success, solutions and regions are strict (docs/measuring.md, "How a skill is scored");
    # the touched_* columns are the rule before, beside them.
    row["scoring"] = f"strict stay {scoring['stay_share']} share {scoring['min_share']}"
    reached = report.get("env_steps_to_solutions") or {}
    for task in report["per_task"]:
        key = f"t{task['task_id']}_{task['task']}"
        row[f"{key}_success"] = task["success_rate"]
        row[f"{key}_solutions"] = task["distinct_solutions"]
        row[f"{key}_regions"] = _regions(task["episodes_per_outcome"])
        row[f"{key}_return"] = round(task["mean_return"], 2)
        row[f"{key}_return_std"] = round(task["return_std"], 2)
        row[f"{key}_z_consistency"] = _maybe(task["z_consistency"])
        row[f"{key}_reliable_solutions"] = _maybe(task["reliable_solutions"])
        row[f"{key}_touched"] = task["touched_rate"]
        row[f"{key}_touched_solutions"] = task["touched_solutions"]
        row[f"{key}_touched_regions"] = _regions(task["touched_outcomes"])
        if key in reached:
            row[f"{key}_steps_to_solutions"] = _maybe(reached[key])
    kl = report.get("kl", [])  # an agent without an embedding has none
    for i in range(len(kl)):
        for j in range(i + 1, len(kl)):
            row[f"kl_t{i}_t{j}"] = kl[i][j]
    print(f"{name} seed {seed}: {row}", flush=True)
    return row


def _regions(counts: dict) -> str:
    return " ".join(f"{g}:{n}" for g, n in counts.items())


def _maybe(value) -> str | float:
    """An empty cell for a measure that does not apply (None): a CSV has no null."""
    return "" if value is None else round(value, 3)


def run_graph(name: str, seed: int, out: Path) -> dict:
    """`skill-embedding launch train_sim` on its own ROS domain, then `evaluate`."""
    config, actors = GRAPH_EXPERIMENTS[name]
    run_dir = out / "runs" / f"{name}_seed{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    env = dict(os.environ, ROS_DOMAIN_ID=str(60 + seed), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    cli = [sys.executable, "-m", "skill_embedding_ros.cli"]
    launch = [
        "launch", "train_sim", f"actors:={actors}", f"config:={config}", f"seed:={seed}",
        f"run_dir:={run_dir}",
    ]  # fmt: skip
    start, commit = time.time(), runs_commit()
    log = run_dir.with_suffix(".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        if name in TWO_HOSTS:
            proc = _two_hosts(cli + launch, env, f)
        else:
            proc = subprocess.run(cli + launch, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        print(f"{name} seed {seed}: graph failed, see {log}", file=sys.stderr)
        return {"experiment": name, "seed": seed, "error": proc.returncode}
    minutes = (time.time() - start) / 60
    subprocess.run([*cli, "evaluate", str(run_dir)], env=env, check=True, capture_output=True)
    return _row(name, seed, run_dir, minutes, start, commit)


def _two_hosts(argv: list[str], env: dict, log) -> subprocess.CompletedProcess:
    """The graph split over two network namespaces: actors in b, learner and recorder in a;
    the learner's exit ends the run, then the actors are stopped."""
    from skill_embedding_ros.testing.netns import TwoHosts, network_env

    env = network_env(env)
    with TwoHosts(net=90) as hosts:
        actors = hosts.popen("b", [*argv, "--only", "actor_*"], env=env, stdout=log, stderr=log)
        try:
            learner = subprocess.run(
                hosts.command("a", [*argv, "--only", "learner,replay_recorder"]),
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        finally:
            actors.send_signal(signal.SIGINT)
            actors.wait(60)
    return learner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="results")
    parser.add_argument(
        "--only", nargs="*", choices=sorted(EXPERIMENTS) + sorted(GRAPH_EXPERIMENTS)
    )
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument(
        "--eval-every",
        type=int,
        default=10_000,
        help="env steps between evaluations during in-process training (0: none); gives the "
        "steps_to_solutions columns",
    )
    args = parser.parse_args()
    out = Path(args.out)
    names = args.only or [*EXPERIMENTS, *GRAPH_EXPERIMENTS]
    jobs = [(n, s) for n in names if n in EXPERIMENTS for s in args.seeds]
    # Each row stamps the commit its run started from (a run imports the working tree when it
    # starts, so a change made meanwhile shows up as "-dirty" in the row of a later run).
    rows: list[dict] = []

    def keep(row: dict) -> None:
        # Rewrite the experiment's CSV after every run, so stopping a long grid keeps the rows
        # already measured.
        rows.append(row)
        write_csv(out, row["experiment"], rows)

    with ThreadPoolExecutor(args.parallel) as pool:
        for future in as_completed(
            [pool.submit(run_one, *job, out, args.eval_every) for job in jobs]
        ):
            keep(future.result())
    for name in names:
        if name in GRAPH_EXPERIMENTS:
            for seed in args.seeds:
                keep(run_graph(name, seed, out))


def write_csv(out: Path, name: str, rows: list[dict]) -> None:
    """out/<name>.csv: the rows of experiment `name`, one per seed. Rows of seeds this invocation
    did not run are kept from the file, so seeds can run in batches; every row names the
    command and the commit that produced it."""
    path = out / f"{name}.csv"
    mine = {r["seed"]: r for r in rows if r["experiment"] == name}
    if path.exists():
        with open(path, newline="") as f:
            kept = csv.DictReader(line for line in f if not line.startswith("#"))
            for old in kept:
                mine.setdefault(int(old["seed"]), old)
    mine = [mine[s] for s in sorted(mine)]
    fields = list(dict.fromkeys(k for r in mine for k in r))
    with open(path, "w", newline="") as f:
        f.write("# one row per seed; each names the command and commit that produced it\n")
        writer = csv.DictWriter(f, fields, restval="")
        writer.writeheader()
        writer.writerows(mine)
    print(f"wrote {path} ({len(mine)} rows)", flush=True)


if __name__ == "__main__":
    main()
