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
import itertools
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray, UInt8MultiArray

from skill_embedding_ros.agent.actor import Actor
from skill_embedding_ros.agent.checkpoint import decode_weights, encode_weights
from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.data.replay_store import list_chunks
from skill_embedding_ros.provenance import git_commit
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import weights_message
from skill_embedding_ros.ros.processes import fresh_domain, ros_env, start_node
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.training.trainer import env_factory

REPO = Path(__file__).resolve().parents[1]
RUN_CONFIG = "reach_bernoulli.yaml"  # the network sizes and suite every measurement uses
PING, PONG, WEIGHTS_ACK = "bench_ping", "bench_pong", "bench_weights_ack"
# -- processes (nodes start as in the tests: skill_embedding_ros/ros/processes.py) ---------


def start(args: list[str], domain: int, log: Path) -> subprocess.Popen:
    """A Python process on `domain`, stdout+stderr to `log`. It stays in our process group, so a
    Ctrl-C at the terminal reaches it too."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, *args], env=ros_env(domain), stdout=out, stderr=out, cwd=REPO
        )
    proc.log_path = log  # type: ignore[attr-defined]
    return proc


def stop_all(procs: list[subprocess.Popen], timeout: float = 10.0) -> list[int]:
    """Ctrl-C every process at once (shutdowns overlap), kill what has not exited by `timeout`."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return [proc.returncode for proc in procs]


def log_tail(proc: subprocess.Popen, lines: int = 15) -> str:
    text = Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]
    return "\n".join(text.splitlines()[-lines:])


def check_alive(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is not None:
            name = Path(proc.log_path).stem  # type: ignore[attr-defined]
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log_tail(proc)}")


class RosContext:
    """A node in this process, in its own rclpy context on `domain`."""

    def __init__(self, domain: int, name: str):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.05)

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        # Executor down before rclpy.shutdown, or the process aborts (DESIGN.md, known facts).
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


# -- the helper processes (`--serve echo|weights`) -----------------------------------------


class Echo(Node):
    """Sends every ping straight back: the other end of the bare DDS round trip."""

    def __init__(self):
        super().__init__("bench_echo")
        pong = self.create_publisher(Float64MultiArray, PONG, topics.RELIABLE)
        self.create_subscription(Float64MultiArray, PING, pong.publish, topics.RELIABLE)


class WeightsSink(Node):
    """Receives /policy_weights as a skill policy does and acks each with its receipt time
    (CLOCK_MONOTONIC is system-wide on Linux, so the sender can subtract its send time)."""

    def __init__(self):
        super().__init__("bench_weights_sink")
        self.ack = self.create_publisher(Float64MultiArray, WEIGHTS_ACK, topics.RELIABLE)
        self.create_subscription(
            UInt8MultiArray, topics.POLICY_WEIGHTS, self.on_weights, topics.LATCHED
        )

    def on_weights(self, msg: UInt8MultiArray) -> None:
        received = time.monotonic_ns()
        _, version, _ = decode_weights(bytes(msg.data))
        decode_us = (time.monotonic_ns() - received) / 1e3
        self.ack.publish(Float64MultiArray(data=[float(version), float(received), decode_us]))


SERVERS = {"echo": Echo, "weights": WeightsSink}


def start_server(role: str, domain: int, log_dir: Path) -> subprocess.Popen:
    return start([str(Path(__file__).resolve()), "--serve", role], domain, log_dir / f"{role}.log")


# -- measurements ----------------------------------------------------------------------------


def percentiles_us(seconds: list[float]) -> dict:
    p50, p99 = np.percentile(np.asarray(seconds) * 1e6, [50, 99])
    return {"p50_us": round(float(p50), 1), "p99_us": round(float(p99), 1)}


def bench_inprocess(seconds: float) -> dict:
    """One actor with one env: a batch-1 policy call and an env step per step, no ROS."""
    cfg = load_run_config(RUN_CONFIG)
    nets = build_networks(cfg)
    actor = Actor(env_factory(cfg), 1, nets.embedding, nets.policy, cfg.train.z_hold, seed=0)
    for _ in range(200):  # warm-up (first calls allocate)
        actor.step()
    count, begin = 0, time.perf_counter()
    while time.perf_counter() - begin < seconds:
        actor.step()
        count += 1
    rate = count / (time.perf_counter() - begin)
    return {"steps_per_s": round(rate), "step_us": round(1e6 / rate, 1)}


def bench_dds(seconds: float, log_dir: Path) -> dict:
    """Ping/pong of a 2-value Float64MultiArray with the graph's RELIABLE QoS, one message in
    flight at a time (as in lockstep), between this process and an echo process."""
    domain = fresh_domain()
    echo = start_server("echo", domain, log_dir)
    ros = RosContext(domain, "bench_ping")
    try:
        got: list[float] = []
        pub = ros.node.create_publisher(Float64MultiArray, PING, topics.RELIABLE)
        sub = ros.node.create_subscription(
            Float64MultiArray, PONG, lambda msg: got.append(msg.data[0]), topics.RELIABLE
        )
        ros.spin_until(
            lambda: pub.get_subscription_count() > 0 and sub.get_publisher_count() > 0,
            60,
            "the echo process to be discovered",
        )

        def round_trip(seq: int) -> float:
            sent = time.perf_counter()
            pub.publish(Float64MultiArray(data=[float(seq), sent]))
            ros.spin_until(lambda: bool(got) and got[-1] == seq, 5, f"pong {seq}")
            return time.perf_counter() - sent

        seq = itertools.count()
        for _ in range(100):  # warm-up: the first exchanges after discovery are slower
            round_trip(next(seq))
        times, begin = [], time.perf_counter()
        while time.perf_counter() - begin < seconds:
            times.append(round_trip(next(seq)))
        elapsed = time.perf_counter() - begin
    finally:
        ros.close()
        stop_all([echo])
    return {
        "round_trips_per_s": round(len(times) / elapsed),
        "mean_us": round(elapsed / len(times) * 1e6, 1),
        **percentiles_us(times),
        "samples": len(times),
    }


def bench_weights(count: int, log_dir: Path) -> dict:
    """/policy_weights as the learner sends it (actor weights of the run config, safetensors,
    LATCHED QoS) to a subscriber in another process: publish -> subscription callback."""
    state = build_networks(load_run_config(RUN_CONFIG)).actor_state()
    domain = fresh_domain()
    sink = start_server("weights", domain, log_dir)
    ros = RosContext(domain, "bench_weights_source")
    try:
        acks: dict[int, tuple[float, float]] = {}
        pub = ros.node.create_publisher(UInt8MultiArray, topics.POLICY_WEIGHTS, topics.LATCHED)
        sub = ros.node.create_subscription(
            Float64MultiArray,
            WEIGHTS_ACK,
            lambda msg: acks.__setitem__(int(msg.data[0]), (msg.data[1], msg.data[2])),
            topics.RELIABLE,
        )
        ros.spin_until(
            lambda: pub.get_subscription_count() > 0 and sub.get_publisher_count() > 0,
            60,
            "the weights subscriber to be discovered",
        )
        latency, encode, decode, warmup = [], [], [], 3
        for version in range(count + warmup):
            begin = time.perf_counter()
            data = encode_weights(state, version, env_steps=version)
            encoded = time.perf_counter()
            # From here on is the broadcast: message, publish, DDS, the subscriber's callback.
            sent = time.monotonic_ns()
            pub.publish(weights_message(data))
            ros.spin_until(lambda v=version: v in acks, 10, f"the ack of weights v{version}")
            if version >= warmup:
                latency.append((acks[version][0] - sent) / 1e9)
                encode.append(encoded - begin)
                decode.append(acks[version][1] / 1e6)
    finally:
        ros.close()
        stop_all([sink])
    return {
        "payload_bytes": len(data),
        **percentiles_us(latency),
        "encode_p50_us": percentiles_us(encode)["p50_us"],
        "decode_p50_us": percentiles_us(decode)["p50_us"],
        "samples": len(latency),
    }


def start_graph(n: int, domain: int, store: Path, log_dir: Path) -> dict[str, list]:
    """The training graph's actor side: per actor a lockstep sim_bridge, a safety_gate and an
    exploring skill_policy (pacing off: no learner), plus the real replay_recorder, which the
    policies wait for before starting episodes. The recorder starts first (docs/ros_graph.md)."""
    recorder = start_node("replay_recorder", domain, log_dir, params={"store": str(store)})
    graph: dict[str, list] = {"skill_policy": [], "safety_gate": [], "sim_bridge": []}
    for i in range(n):
        ns = f"actor_{i}"
        graph["sim_bridge"].append(
            start_node("sim_bridge", domain, log_dir, ns, {"mode": "lockstep", "seed": i})
        )
        graph["safety_gate"].append(start_node("safety_gate", domain, log_dir, ns))
        policy = {"config": RUN_CONFIG, "mode": "explore", "actors": 0, "seed": i}
        graph["skill_policy"].append(start_node("skill_policy", domain, log_dir, ns, policy))
    graph["replay_recorder"] = [recorder]
    return graph


def episode_listener(ros: RosContext) -> list[dict]:
    """Every skill policy's per-episode diagnostics, stamped with their arrival here."""
    seen: list[dict] = []

    def on_diag(msg: DiagnosticArray) -> None:
        now = time.monotonic()
        for status in msg.status:
            if "skill_policy" in status.name:
                values = {kv.key: kv.value for kv in status.values}
                seen.append(
                    {
                        "actor": status.hardware_id,
                        "episode": int(values["episode"]),
                        "t": now,
                        "p50_us": float(values["latency_p50_us"]),
                        "p99_us": float(values["latency_p99_us"]),
                    }
                )

    ros.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diag, 1000)
    return seen


def report_unclean_exits(graph: dict[str, list], codes: dict[str, list[int]]) -> None:
    """A node that did not exit 0 on Ctrl-C is a finding of its own: show why, keep going."""
    for name, group in graph.items():
        for proc, code in zip(group, codes[name], strict=True):
            if code != 0:
                print(f"warning: {name} exited with {code}:\n{log_tail(proc)}", file=sys.stderr)


def actor_rate(events: list[dict], begin: float, end: float, episode_steps: int) -> float:
    """Env steps/s of one actor between its first and last episode end inside [begin, end]:
    each interval is whole episodes including the reset between them, and startup is left out."""
    inside = [e for e in events if begin <= e["t"] <= end]
    if len(inside) < 2:
        raise RuntimeError(f"fewer than 2 episodes ended in the window: {len(inside)}")
    first, last = inside[0], inside[-1]
    return (last["episode"] - first["episode"]) * episode_steps / (last["t"] - first["t"])


def bench_graph(n: int, seconds: float, warmup_episodes: int, log_dir: Path) -> dict:
    episode_steps = get_suite(load_run_config(RUN_CONFIG).train.suite).episode_steps
    domain = fresh_domain()
    store = log_dir / f"store_{n}"
    ros = RosContext(domain, "bench_graph")
    seen = episode_listener(ros)
    graph = start_graph(n, domain, store, log_dir / f"graph_{n}")
    procs = [p for group in graph.values() for p in group]
    actors = [f"actor_{i}" for i in range(n)]

    def warmed_up() -> bool:
        check_alive(procs)
        return all(sum(e["actor"] == a for e in seen) >= warmup_episodes for a in actors)

    try:
        started = time.monotonic()
        ros.spin_until(warmed_up, 120, f"{warmup_episodes} episodes from each of {n} actors")
        startup_s = time.monotonic() - started
        begin = time.monotonic()
        ros.spin_until(lambda: time.monotonic() - begin >= seconds, seconds + 5, "the window")
        check_alive(procs)
        end = time.monotonic()
    finally:
        # Policies first, so no command is in flight when their bridges go; the recorder last,
        # so it writes every episode it completed into its final chunk.
        codes = {"skill_policy": stop_all(graph["skill_policy"])}
        # Diagnostics of episodes that ended after the window may still be on their way: take
        # them in, so `episodes_reported` counts every episode the policies finished.
        ros.spin_for(1.0)
        codes |= {name: stop_all(group) for name, group in graph.items() if name not in codes}
        ros.close()
        report_unclean_exits(graph, codes)
    rates = [
        actor_rate([e for e in seen if e["actor"] == a], begin, end, episode_steps) for a in actors
    ]
    window = [e for e in seen if begin <= e["t"] <= end]
    chunks = list_chunks(store)
    return {
        "actors": n,
        "steps_per_s_total": round(sum(rates)),
        "steps_per_s_per_actor": round(sum(rates) / n),
        "steps_per_s_each": [round(r) for r in rates],
        "step_us_per_actor": round(n / sum(rates) * 1e6, 1),
        # The policy reports percentiles per episode (50 steps): the median episode's p50 and
        # p99, and the worst episode's p99. An episode's p99 is about its slowest step, so the
        # median of them sits near the p99 over all steps (the 0.5^(1/50) = 0.986 quantile).
        "policy_latency_p50_us": round(float(np.median([e["p50_us"] for e in window])), 1),
        "policy_latency_p99_us": round(float(np.median([e["p99_us"] for e in window])), 1),
        "policy_latency_worst_episode_p99_us": round(max(e["p99_us"] for e in window), 1),
        "episodes_reported": len(seen),
        "episodes_stored": sum(c.episodes for c in chunks),
        "startup_s": round(startup_s, 1),
        "window_s": round(end - begin, 1),
        "exit_codes": {name: c for name, c in codes.items() if any(c)},
    }


# -- report ----------------------------------------------------------------------------------


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "rmw": rclpy.get_rmw_implementation_identifier(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


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
    return out


def table(res: dict) -> str:
    ip, dds, w = res["inprocess"], res["dds_round_trip"], res["weights_broadcast"]
    rows = [
        f"in-process, 1 actor x 1 env   {ip['steps_per_s']:>8} steps/s  ({ip['step_us']} us)",
        f"bare DDS round trip           {dds['round_trips_per_s']:>8} /s       "
        f"p50 {dds['p50_us']} us, p99 {dds['p99_us']} us",
        f"weights broadcast ({w['payload_bytes'] / 1e3:.0f} kB)     "
        f"p50 {w['p50_us'] / 1e3:.2f} ms, p99 {w['p99_us'] / 1e3:.2f} ms",
        "",
        "actors  total steps/s  per actor  step us  policy p50/p99 us  stored/reported eps",
    ]
    for n, g in res["graph"].items():
        rows.append(
            f"{n:>6}  {g['steps_per_s_total']:>13}  {g['steps_per_s_per_actor']:>9}  "
            f"{g['step_us_per_actor']:>7}  "
            f"{g['policy_latency_p50_us']:>7} / {g['policy_latency_p99_us']:<7}  "
            f"{g['episodes_stored']:>8} / {g['episodes_reported']}"
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
        "machine": machine(),
        "run_config": RUN_CONFIG,
        "graph_recorder": "replay_recorder node into a temporary store",
        "graph_window_s": seconds,
    }
    with tempfile.TemporaryDirectory(prefix="bench_graph_") as tmp:
        log_dir = Path(args.logs or tmp)
        try:
            results["inprocess"] = bench_inprocess(short)
            results["dds_round_trip"] = bench_dds(short, log_dir)
            results["weights_broadcast"] = bench_weights(10 if args.quick else 50, log_dir)
            warmup = 1 if args.quick else 2
            results["graph"] = {
                str(n): bench_graph(n, seconds, warmup, log_dir) for n in sorted(args.actors)
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
