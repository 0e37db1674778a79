"""Bag ingestion speed and memory: transitions/s of `ingest` beside a plain `rosbags` read of the
same bag in the same run (their ratio is what carries across machines; the two are measured in
turn, the fastest of five each), for a bag of per-step records and a bag of robot topics; and
the peak memory of ingesting a bag and one ten times larger (VmHWM of a fresh process), which
streaming keeps about the same, with the share of the robot pipeline's constant (the suite's
joint limits, read by MuJoCo compiling its MJCF). The robot bag's rate is also measured at ten
times its size (the read's and the ingest's constant costs weigh less).

    python benchmarks/bench_ingest.py --out benchmarks/results_ingest.json
    python benchmarks/bench_ingest.py --quick --out /tmp/ingest.json   # smoke check

Bags are synthetic (skill_embedding_ros/testing/bags.py): reach-suite records (50-step
episodes, two actors interleaved), uncompressed MCAP as a recorder writes it, and push-suite
robot topics of a scripted controller as a lockstep graph shows them. The load average is
recorded beside.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader

REPO = Path(__file__).resolve().parents[1]

from skill_embedding_ros.control.joint_limits import commanded_limits  # noqa: E402
from skill_embedding_ros.data import step_record as sr  # noqa: E402
from skill_embedding_ros.data.bags.align import AlignConfig  # noqa: E402
from skill_embedding_ros.data.bags.ingest import IngestOptions, ingest  # noqa: E402
from skill_embedding_ros.data.replay import Episode  # noqa: E402
from skill_embedding_ros.provenance import git_commit, machine  # noqa: E402
from skill_embedding_ros.tasks.point_mass.demos import reach_goal  # noqa: E402
from skill_embedding_ros.tasks.registry import get_suite  # noqa: E402
from skill_embedding_ros.testing.bags import (  # noqa: E402
    robot_demos,
    robot_messages,
    write_messages,
    write_record_bag,
)

STEPS = 50


def _episode(rng, task: int) -> Episode:
    n = STEPS
    z_drawn = np.zeros(n, bool)
    z_drawn[0] = True
    return Episode(
        obs=rng.normal(size=(n + 1, 4)).astype(np.float32),
        action=rng.uniform(-1, 1, (n, 2)).astype(np.float32),
        reward=(rng.random(n) < 0.2).astype(np.float32),
        terminal=np.zeros(n, bool),
        task=task,
        z=np.repeat(rng.normal(size=(1, 2)), n, 0).astype(np.float32),
        log_b_z=np.full(n, -1.5, np.float32),
        log_b_a=rng.normal(size=n).astype(np.float32),
        z_drawn=z_drawn,
        intervention=np.zeros(n, bool),
    )


def record_bag(path: Path, episodes: int) -> None:
    rng = np.random.default_rng(0)
    write_record_bag(path, [_episode(rng, 0) for _ in range(episodes)])


def robot_bag(path: Path, episodes: int) -> None:
    suite = get_suite("push")
    write_messages(path, robot_messages(suite, robot_demos(suite, episodes, reach_goal(suite, 0))))


def plain_read(bag: Path) -> tuple[float, int]:
    """Seconds to read and deserialize every message with rosbags alone; messages."""
    start = time.perf_counter()
    n = 0
    with AnyReader([bag], default_typestore=sr.typestore()) as reader:
        for connection, _, raw in reader.messages():
            reader.deserialize(raw, connection.msgtype)
            n += 1
    return time.perf_counter() - start, n


def timed_ingest(bag: Path, options: IngestOptions) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        code, [summary] = ingest([bag], Path(tmp) / "store", options, report=lambda s: None)
        seconds = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(summary.text())
    return seconds, {"episodes": summary.episodes, "transitions": summary.transitions}


def robot_options() -> IngestOptions:
    align = AlignConfig(suite=get_suite("push"), tasks=("any",), z_dim=2, task="any")
    return IngestOptions(kind="robot", align=align)


def throughput(make, options: IngestOptions, episodes: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp) / "bag"
        make(bag, episodes)
        # In turn, as bench_core measures its rates: a slow spell of a shared machine then
        # touches the read and the ingest alike, not the whole of one of them.
        reads, ingests = [], []
        for _ in range(repeats):
            reads.append(plain_read(bag))
            ingests.append(timed_ingest(bag, options))
        read_s = min(r[0] for r in reads)
        ingest_s = min(i[0] for i in ingests)
        stored = ingests[0][1]
        return {
            "messages": reads[0][1],
            "bag_mb": round(sum(f.stat().st_size for f in bag.iterdir()) / 1e6, 2),
            **stored,
            "plain_read_s": round(read_s, 3),
            "plain_read_messages_per_s": round(reads[0][1] / read_s),
            "ingest_s": round(ingest_s, 3),
            "ingest_transitions_per_s": round(stored["transitions"] / ingest_s),
            "ingest_messages_per_s": round(reads[0][1] / ingest_s),
            "ingest_time_over_plain_read": round(ingest_s / read_s, 2),
        }


def peak_memory(kind: str, episodes: int) -> dict:
    """Max RSS of a fresh process that ingests a bag of `episodes` (and nothing else)."""
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp) / "bag"
        (record_bag if kind == "records" else robot_bag)(bag, episodes)
        size = sum(f.stat().st_size for f in bag.iterdir())
        cmd = [sys.executable, __file__, "--child", kind, str(bag), str(Path(tmp) / "store")]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        child = json.loads(done.stdout.strip().splitlines()[-1])
        return {"episodes": episodes, "bag_mb": round(size / 1e6, 2), **child}


def _peak_rss_mb() -> float:
    """This process's peak resident memory so far (VmHWM: unlike ru_maxrss, it does not carry
    over the parent's peak across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(kind: str, bag: str, store: str) -> None:
    options = IngestOptions() if kind == "records" else robot_options()
    before = limits = _peak_rss_mb()
    if kind == "robot":  # a constant of the robot pipeline: MuJoCo compiles the suite's MJCF
        commanded_limits(options.align.suite.description(), options.align.suite.joints)
        limits = _peak_rss_mb()
    code, [summary] = ingest([Path(bag)], Path(store), options, report=lambda s: None)
    peak = _peak_rss_mb()
    shutil.rmtree(store, ignore_errors=True)
    print(
        json.dumps(
            {
                "code": code,
                "transitions": summary.transitions,
                "peak_rss_mb": round(peak, 1),
                "peak_rss_before_ingest_mb": round(before, 1),
                "ingest_added_mb": round(peak - before, 1),
                "of_it_joint_limits_mb": round(limits - before, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results_ingest.json")
    parser.add_argument("--quick", action="store_true", help="small bags, one repeat")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    episodes, repeats = (40, 1) if args.quick else (400, 5)
    load_before = os.getloadavg()
    commit = git_commit()
    results = {
        "command": "python benchmarks/bench_ingest.py " + " ".join(sys.argv[1:]),
        "commit": commit,
        "machine": machine(),
        "load_average_before": [round(x, 2) for x in load_before],
        "records_bag": throughput(record_bag, IngestOptions(), episodes, repeats),
        "robot_bag": throughput(robot_bag, robot_options(), episodes // 4, repeats),
        # Ten times the bag: what a long recording costs per message, where the constant cost
        # of opening a bag and landing a chunk (about 20 ms for each) weighs less.
        "robot_bag_10x": throughput(robot_bag, robot_options(), 10 * (episodes // 4), repeats),
        "peak_memory_records": [
            peak_memory("records", episodes),
            peak_memory("records", 10 * episodes),
        ],
        "peak_memory_robot": [
            peak_memory("robot", episodes // 4),
            peak_memory("robot", 10 * (episodes // 4)),
        ],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
