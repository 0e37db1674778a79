"""Interleaved A/B runs of the lockstep graph (bench_graph.py's measurement) under environment
variants, so a change is judged against the spread between runs of the same variant.

    python benchmarks/compare_graph.py base= async=RMW_FASTRTPS_PUBLICATION_MODE:ASYNCHRONOUS
    python benchmarks/compare_graph.py --actors 2 --separate base= \
        single=SKILL_EMBEDDING_EXECUTOR:single

A variant is NAME=VAR:VALUE[,VAR:VALUE...] (NAME= alone: the environment as it is); every
process of the graph inherits it. Each round runs every variant once, in order.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from unittest import mock

from graph_measure import bench_graph


def variant(spec: str) -> tuple[str, dict[str, str]]:
    name, sep, assignments = spec.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VAR:VALUE[,...] or NAME=, got {spec!r}")
    env = {}
    for item in filter(None, assignments.split(",")):
        key, sep, value = item.partition(":")
        if not sep:
            raise argparse.ArgumentTypeError(f"{spec!r}: expected VAR:VALUE, got {item!r}")
        env[key] = value
    return name, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", type=variant, metavar="NAME=VAR:VALUE,...")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--actors", type=int, default=1)
    parser.add_argument("--separate", action="store_true", help="each node its own process")
    parser.add_argument("--seconds", type=float, default=15.0, help="window per run")
    args = parser.parse_args()
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    rates: dict[str, list[int]] = {name: [] for name, _ in args.variants}
    for _ in range(args.rounds):
        for name, env in args.variants:
            with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, env):
                res = bench_graph(args.actors, args.seconds, 2, Path(tmp), not args.separate)
            rates[name].append(res["steps_per_s_total"])
            print(
                f"{name}: {res['steps_per_s_total']} steps/s, policy p50/p99 "
                f"{res['policy_latency_p50_us']}/{res['policy_latency_p99_us']} us, cores "
                f"{res['cpu_share_per_process']}, stolen {res['cpu_stolen_share']:.1%}",
                flush=True,
            )
    for name, values in rates.items():
        print(f"{name}: steps/s per round {values}")


if __name__ == "__main__":
    main()
