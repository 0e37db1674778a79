"""Graph speed figures: lockstep steps/s through the node graph beside the in-process loop and a
bare DDS round trip, policy latency (observation -> command), weight-broadcast latency, and how
throughput scales from 1 to 4 actors.

    python benchmarks/bench_graph.py --out benchmarks/results_graph.json
    python benchmarks/bench_graph.py --quick --actors 1 --out /tmp/graph.json   # smoke check

Every node runs as its own process over real DDS (each measurement on its own ROS_DOMAIN_ID,
discovery kept on this host). All figures come from one run on one machine, so the ratios
(graph vs in-process, graph step vs DDS round trip, N actors vs 1) are what to compare across
machines; absolute rates depend on the CPU and on what else runs on it (the load average at the
start and end is recorded beside them).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path
from unittest import mock

import rclpy
import torch
from graph_baselines import bench_acting, bench_dds, bench_inprocess, bench_weights
from graph_harness import RUN_CONFIG, SERVERS
from graph_measure import bench_graph, bench_idle

from skill_embedding_ros.provenance import git_commit, machine
from skill_embedding_ros.ros.run import EXECUTOR_ENV, INTRA_PROCESS_ENV, spin

# The measurements: graph_baselines.py (in-process loop, a node's action at one state, bare DDS
# round trip, weights broadcast) and graph_measure.py (the node graph with N actors), on what
# graph_harness.py shares.

# -- report ----------------------------------------------------------------------------------


def ratios(res: dict) -> dict:
    one = res["graph"]["1"]
    out = {
        "graph_vs_inprocess_steps_ratio": round(
            one["steps_per_s_per_actor"] / res["inprocess"]["steps_per_s"], 3
        ),
        # A lockstep step is three DDS hops (bridge -> policy -> gate -> bridge) plus three
        # nodes' callbacks; a bare round trip is two hops and two trivial callbacks.
        "graph_step_over_dds_round_trip": round(
            one["step_us_per_actor"] / res["dds_round_trip"]["mean_us"], 2
        ),
        "policy_latency_p99_under_1ms": one["policy_latency_p99_us"] < 1000,
    }
    for n, row in res["graph"].items():
        if n != "1":
            out[f"total_steps_{n}_actors_vs_1"] = round(
                row["steps_per_s_total"] / one["steps_per_s_total"], 2
            )
    single = res.get("graph_single_executor", {}).get("1")
    if single:
        out["events_vs_single_executor_steps_1_actor"] = round(
            one["steps_per_s_total"] / single["steps_per_s_total"], 2
        )
    for n, row in res.get("graph_composed", {}).items():
        if n == "1":
            out["composed_graph_step_over_dds_round_trip"] = round(
                row["step_us_per_actor"] / res["dds_round_trip"]["mean_us"], 2
            )
        out[f"composed_vs_separate_total_steps_{n}_actors"] = round(
            row["steps_per_s_total"] / res["graph"][n]["steps_per_s_total"], 2
        )
        if n != "1":
            out[f"composed_total_steps_{n}_actors_vs_1"] = round(
                row["steps_per_s_total"] / res["graph_composed"]["1"]["steps_per_s_total"], 2
            )
    for n, row in res.get("graph_composed_dds", {}).items():
        out[f"intra_process_vs_dds_composed_steps_{n}_actors"] = round(
            res["graph_composed"][n]["steps_per_s_total"] / row["steps_per_s_total"], 2
        )
    return out


def table(res: dict) -> str:
    ip, dds, w = res["inprocess"], res["dds_round_trip"], res["weights_broadcast"]
    act = res["acting_one_state"]
    rows = [
        f"in-process, 1 actor x 1 env   {ip['steps_per_s']:>8} steps/s  ({ip['step_us']} us)",
        f"a node's action, one state    {act['one_state_us']:>8} us (torch: {act['torch_us']} us)",
        f"bare DDS round trip           {dds['round_trips_per_s']:>8} /s       "
        f"p50 {dds['p50_us']} us, p99 {dds['p99_us']} us",
        f"weights broadcast ({w['payload_bytes'] / 1e3:.0f} kB)     "
        f"p50 {w['p50_us'] / 1e3:.2f} ms, p99 {w['p99_us'] / 1e3:.2f} ms",
        "idle, nothing to do, share of a core: "
        + ", ".join(f"{k} {v:.3f}" for k, v in res["idle"]["cpu_share_per_process"].items()),
        "",
        "actors  total steps/s  per actor  step us  policy p50/p99 us  stored/reported eps"
        "  stolen  actor CPU us/step",
    ]
    graphs = [(n, g) for n, g in res["graph"].items()]
    graphs += [(f"{n}c", g) for n, g in res.get("graph_composed", {}).items()]  # c: composed
    graphs += [(f"{n}d", g) for n, g in res.get("graph_composed_dds", {}).items()]  # d: DDS only
    graphs += [(f"{n}s", g) for n, g in res.get("graph_single_executor", {}).items()]  # s: single
    for n, g in graphs:
        rows.append(
            f"{n:>6}  {g['steps_per_s_total']:>13}  {g['steps_per_s_per_actor']:>9}  "
            f"{g['step_us_per_actor']:>7}  "
            f"{g['policy_latency_p50_us']:>7} / {g['policy_latency_p99_us']:<7}  "
            f"{g['episodes_stored']:>8} / {g['episodes_reported']:<8}  "
            f"{g['cpu_stolen_share']:>6.1%}  {g['actor_cpu_us_per_step']:>8}"
        )
    rows += ["", *(f"{k}: {v}" for k, v in res["ratios"].items())]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results_graph.json")
    parser.add_argument("--seconds", type=float, default=15.0, help="graph window per N")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--quick", action="store_true", help="short windows: a smoke check")
    parser.add_argument("--logs", help="keep the processes' logs and stores here")
    parser.add_argument("--serve", choices=sorted(SERVERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        sys.exit(spin(SERVERS[args.serve]))
    if 1 not in args.actors:
        parser.error("--actors must include 1: the ratios are against one actor")
    torch.set_num_threads(1)
    # This process's own contexts must stay on this host too (read when a context starts).
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    seconds = 2.0 if args.quick else args.seconds
    short = 1.0 if args.quick else 5.0
    results: dict = {
        "command": "python " + shlex.join(sys.argv),
        "commit": git_commit(),
        "machine": machine(
            torch_threads=torch.get_num_threads(),
            rmw=rclpy.get_rmw_implementation_identifier(),
            load_average_at_start=[round(x, 2) for x in os.getloadavg()],
        ),
        "run_config": RUN_CONFIG,
        "graph_recorder": "replay_recorder node into a temporary store",
        "graph_window_s": seconds,
    }
    with tempfile.TemporaryDirectory(prefix="bench_graph_") as tmp:
        log_dir = Path(args.logs or tmp)
        try:
            results["inprocess"] = bench_inprocess(short)
            results["acting_one_state"] = bench_acting(short)
            results["dds_round_trip"] = bench_dds(short, log_dir)
            results["weights_broadcast"] = bench_weights(10 if args.quick else 50, log_dir)
            results["idle"] = bench_idle(2 * short, log_dir)
            warmup = 1 if args.quick else 2
            results["graph"] = {
                str(n): bench_graph(n, seconds, warmup, log_dir) for n in sorted(args.actors)
            }
            # compose:=true, the same windows: each actor's nodes in one process.
            results["graph_composed"] = {
                str(n): bench_graph(n, seconds, warmup, log_dir / "composed", composed=True)
                for n in sorted(args.actors)
            }
            # Composed, the nodes talking by DDS only as before ros/intra_process.py: 1 and 2
            # actors (the targets), beside the intra-process rows above.
            with mock.patch.dict(os.environ, {INTRA_PROCESS_ENV: "0"}):
                results["graph_composed_dds"] = {
                    str(n): bench_graph(
                        n, seconds, warmup, log_dir / "composed_dds", composed=True
                    )
                    for n in sorted(args.actors)
                    if n <= 2
                }
            # One actor with every node on rclpy's SingleThreadedExecutor (ros/run.py
            # new_executor), beside the EventsExecutor the graph above spins.
            with mock.patch.dict(os.environ, {EXECUTOR_ENV: "single"}):
                results["graph_single_executor"] = {
                    "1": bench_graph(1, seconds, warmup, log_dir / "single_executor")
                }
        except RuntimeError as err:
            sys.exit(f"error: {err}")
    results["ratios"] = ratios(results)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    print()
    print(table(results))


if __name__ == "__main__":
    main()
