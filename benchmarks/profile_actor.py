"""Where a running lockstep actor spends its CPU: py-spy samples the graph's own processes (one
actor exploring the point mass into a replay recorder, as bench_graph.py starts them) and this
script sums the samples per function, with and without what each calls.

    python benchmarks/profile_actor.py                       # the composed actor (one process)
    python benchmarks/profile_actor.py --sample replay_recorder
    python benchmarks/profile_actor.py --separate --sample skill_policy safety_gate sim_bridge
    python benchmarks/profile_actor.py --out benchmarks/results_actor_profile.json

A sampler, not a tracer: the nodes run at full speed (cProfile's per-call cost distorts Python
code many times over, benchmarks/profile_node.py). Only samples of a thread holding the GIL
count (`--gil`): a node blocked in its executor's wait has released it and adds nothing, where
py-spy's own idle test counted such waits as running. Needs py-spy (requirements-bench.txt) and
the right to trace a child process (root, or ptrace_scope 0).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from graph_harness import check_alive, stop_all
from graph_measure import start_graph

from skill_embedding_ros.provenance import git_commit
from skill_embedding_ros.ros.processes import fresh_domain


def sample(pid: int, seconds: float, out: Path) -> None:
    """py-spy's raw (collapsed) stacks of `pid`'s GIL-holding thread, 500 per second."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    cmd = [spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "500", "--gil"]
    done = subprocess.run([*cmd, "-f", "raw", "-o", str(out)], capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed ({done.returncode}): {done.stderr.strip()[-500:]}")


def shares(stacks: Path, top: int) -> dict:
    """Share of the samples in each function (`file:line`, py-spy's frame name): its own, and
    with everything it calls (a function on a stack twice counts once)."""
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    for line in stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        total += n
        own[frames[-1]] += n
        inclusive.update(dict.fromkeys(frames, n))

    def table(counter: collections.Counter) -> dict[str, float]:
        return {name: round(n / total, 3) for name, n in counter.most_common(top)}

    return {"samples": total, "own": table(own), "with_callees": table(inclusive)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--separate", action="store_true", help="each node its own process (compose:=false)"
    )
    parser.add_argument(
        "--sample", nargs="+", metavar="PROCESS",
        help="which processes to sample, one after the other: actor_container (the default), "
        "replay_recorder, or with --separate skill_policy, safety_gate, sim_bridge",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=15.0, help="sampling window")
    parser.add_argument("--top", type=int, default=25, help="functions listed per table")
    parser.add_argument("--out", help="also write the tables to this JSON file")
    args = parser.parse_args()
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    result = {"command": "python " + shlex.join(sys.argv), "commit": git_commit()}
    with tempfile.TemporaryDirectory(prefix="profile_actor_") as tmp:
        work = Path(tmp)
        graph = start_graph(1, fresh_domain(), work / "store", work / "logs", not args.separate)
        procs = [p for group in graph.values() for p in group]
        try:
            time.sleep(10.0)  # start-up, discovery and the first episodes
            check_alive(procs)
            for name in args.sample or ["skill_policy" if args.separate else "actor_container"]:
                if name not in graph:
                    raise SystemExit(f"error: no {name} process; there are {sorted(graph)}")
                sample(graph[name][0].pid, args.seconds, work / f"{name}.txt")
                result[name] = shares(work / f"{name}.txt", args.top)
            check_alive(procs)
        finally:
            for group in graph.values():
                stop_all(group)
    for name, tables in result.items():
        if isinstance(tables, dict):
            print(f"\n{name}: {tables['samples']} samples holding the GIL")
            for kind in ("with_callees", "own"):
                print(f"  share {kind.replace('_', ' ')}:")
                for frame, share in tables[kind].items():
                    print(f"    {share:6.1%}  {frame}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
