"""Soak: run a training graph for a long time and report what drifts.

    make soak                                       # 4 actors for 1 hour
    .venv/bin/python scripts/soak.py --minutes 3    # a quick look

Four actors (sim bridge, safety gate, skill policy each), the replay recorder and the learner
run as their own processes over real DDS on an isolated domain, as `train_sim` sets them up. A
probe keeps every episode the policies close. The script prints, and writes to --out:

* RSS per node: at the end of the first tenth of the run and at the end, and the growth in
  MB per hour between the two (start-up allocations excluded);
* lost reliable messages: closed episodes that never reached the store (the graph stops
  cleanly, so none should be in flight);
* log lines per minute per node, and lines that repeat about once per episode (digits set
  aside): a node that logs the same line every episode drowns the useful ones.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from std_msgs.msg import Float64MultiArray

from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.store_reader import StoreReader
from skill_embedding_ros.provenance import git_commit
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.processes import (
    Probe,
    fresh_domain,
    graph_params,
    start_node,
    stop,
)

CONFIG = """
agent: {hidden: [64, 64], critic_hidden: [64, 64]}
replay: {capacity: 100000, batch: 32}
train: {suite: reach, tasks: [any], env_steps: 100000000, warmup_steps: 1000, log_every: 5000}
"""
DIGITS = re.compile(r"\d+(\.\d+)?")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def key(obs) -> bytes:
    obs = np.asarray(obs, np.float32)
    return obs[0].tobytes() + obs[-1].tobytes()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--actors", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results_soak.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="soak_") as tmp:
        result = soak(Path(tmp), args.minutes, args.actors)
    print(json.dumps(result, indent=2))
    command = " ".join(["scripts/soak.py", *(argv if argv is not None else sys.argv[1:])])
    record = {"command": command, "commit": git_commit(), **result}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    ok = result["episodes_lost"] == 0 and not result["repeated_lines"]
    print("ok" if ok else "FAILED: see above")
    return 0 if ok else 1


def soak(root: Path, minutes: float, actors: int) -> dict:
    domain = fresh_domain()
    config = root / "run.yaml"
    config.write_text(CONFIG)
    store, logs = root / "store", root / "logs"
    procs = {}
    for i in range(actors):
        ns = f"actor_{i}"
        procs[f"{ns}/sim_bridge"] = start_node(
            "sim_bridge", domain, logs, ns, graph_params("sim_bridge", seed=i)
        )
        procs[f"{ns}/safety_gate"] = start_node(
            "safety_gate", domain, logs, ns, graph_params("safety_gate")
        )
        procs[f"{ns}/skill_policy"] = start_node(
            "skill_policy", domain, logs, ns, {"config": str(config), "seed": i, "actors": actors}
        )
    procs["replay_recorder"] = start_node(
        "replay_recorder", domain, logs, "", {"store": str(store)}
    )
    procs["learner"] = start_node(
        "learner", domain, logs, "", {"config": str(config), "store": str(store), "out": str(root)}
    )
    probe = Probe(domain, "soak_probe")
    closed: set[bytes] = set()
    rows: dict[tuple[str, int], list] = {}

    def on_record(source: str, msg: Float64MultiArray) -> None:
        record = sr.decode(
            [d.label for d in msg.layout.dim], [d.size for d in msg.layout.dim], msg.data
        )
        episode = rows.setdefault((source, record.episode), [])
        episode.append(record.obs)
        if record.last:
            if record.step == len(episode) - 1:  # seen whole
                closed.add(key(np.array(episode)))
            rows.pop((source, record.episode))

    for i in range(actors):
        topic = f"/actor_{i}/{topics.STEP_RECORDS}"
        probe.node.create_subscription(
            Float64MultiArray, topic, lambda m, s=topic: on_record(s, m), topics.RECORDS
        )
    start = time.monotonic()
    early = None
    try:
        while time.monotonic() - start < minutes * 60:
            probe.spin_for(5.0)
            dead = [name for name, p in procs.items() if p.poll() is not None]
            if dead:
                raise SystemExit(f"nodes died during the soak: {dead} (logs in {logs})")
            if early is None and time.monotonic() - start >= minutes * 6:
                early = {name: rss_mb(p.pid) for name, p in procs.items()}
                early_at = time.monotonic()
        late = {name: rss_mb(p.pid) for name, p in procs.items()}
        hours = (time.monotonic() - early_at) / 3600
    finally:
        for name in sorted(procs, key=lambda n: n in ("replay_recorder", "learner")):
            stop(procs[name])  # actors first, so the recorder takes what is in flight
        probe.close()
    stored = {key(e.obs) for e in StoreReader(store).new_episodes()}
    return {
        "minutes": minutes,
        "actors": actors,
        "episodes_closed": len(closed),
        "episodes_lost": len(closed - stored),
        "rss_mb": {n: [round(early[n], 1), round(late[n], 1)] for n in procs},
        "rss_growth_mb_per_hour": {n: round((late[n] - early[n]) / hours, 1) for n in procs},
        **log_figures(logs, minutes, len(closed) / actors),
    }


def log_figures(logs: Path, minutes: float, episodes_per_actor: float) -> dict:
    """Lines per minute per node, and lines (digits aside) logged about once per episode."""
    per_minute, repeated = {}, []
    for path in sorted(logs.glob("*.log")):
        lines = [line for line in path.read_text(errors="replace").splitlines() if line]
        per_minute[path.stem] = round(len(lines) / minutes, 1)
        counts = Counter(DIGITS.sub("#", line) for line in lines)
        for line, n in counts.items():
            if episodes_per_actor >= 20 and n >= 0.5 * episodes_per_actor:
                repeated.append(f"{path.stem}: {n}x {line[:120]}")
    return {"log_lines_per_minute": per_minute, "repeated_lines": repeated}


if __name__ == "__main__":
    sys.exit(main())
