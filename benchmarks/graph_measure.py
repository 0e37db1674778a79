"""The graph's own figures for N actors: lockstep env steps/s per actor and in total, the skill
policies' observation -> command latency, and the episodes the replay recorder stored."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from graph_harness import RUN_CONFIG, RosContext, check_alive, log_tail, stop_all

from skill_embedding_ros.data.replay_store import list_chunks
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.processes import (
    fresh_domain,
    graph_params,
    start_container,
    start_node,
)
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.tasks.registry import get_suite


def start_graph(n: int, domain: int, store: Path, log_dir: Path, composed=False) -> dict:
    """The training graph's actor side: per actor a lockstep sim_bridge, a safety_gate and an
    exploring skill_policy (pacing off: no learner), plus the real replay_recorder, which the
    policies wait for before starting episodes. The recorder starts first (docs/ros_graph.md).

    Bridge, gate and policy take the train_sim graph's parameters (the gate steps in lockstep
    with its bridge, its e-stop latch kept in memory); the recorder keeps its defaults.
    `composed`: each actor's three nodes in one actor_container process (compose:=true)."""
    suite = load_run_config(RUN_CONFIG).train.suite
    recorder = start_node("replay_recorder", domain, log_dir, params={"store": str(store)})
    # Stopped in this order: policies first (containers hold theirs), the recorder last.
    graph: dict[str, list] = {"actor_container": [], "skill_policy": [], "safety_gate": []}
    graph["sim_bridge"] = []
    for i in range(n):
        ns, params = f"actor_{i}", actor_params(suite, i)
        if composed:
            graph["actor_container"].append(start_container(domain, log_dir, ns, params))
            continue
        for executable, values in params.items():
            graph[executable].append(start_node(executable, domain, log_dir, ns, values))
    graph["replay_recorder"] = [recorder]
    return {name: group for name, group in graph.items() if group}


def actor_params(suite: str, seed: int) -> dict[str, dict]:
    """Actor nodes' parameters, in the order they start in (and a container builds them in)."""
    return {
        "sim_bridge": graph_params("sim_bridge", suite=suite, mode="lockstep", seed=seed),
        "safety_gate": graph_params("safety_gate", stepping="lockstep"),
        "skill_policy": graph_params(
            "skill_policy", config=RUN_CONFIG, mode="explore", actors=0, seed=seed
        ),
    }


def bench_idle(seconds: float, log_dir: Path, startup_s: float = 8.0) -> dict:
    """Each node's share of a core with nothing to do, as separate processes: one actor's nodes
    waiting for a replay recorder (a policy starts no episode without one), a recorder on
    another domain with no records to take, and a learner on a third with an empty store. A
    node that sleeps until something is due uses next to nothing; one woken by a fixed tick
    pays for every wake."""
    suite, log_dir = load_run_config(RUN_CONFIG).train.suite, log_dir / "idle"
    store = {"store": str(log_dir / "store")}
    procs = {
        "replay_recorder": [start_node("replay_recorder", fresh_domain(), log_dir, params=store)],
        # A learner with nothing learned from and nothing owed: an empty store of its own.
        "learner": [
            start_node(
                "learner",
                fresh_domain(),
                log_dir,
                params={**store, "config": RUN_CONFIG, "out": str(log_dir / "learner_run")},
            )
        ],
    }
    domain = fresh_domain()
    for executable, values in actor_params(suite, 0).items():
        procs[executable] = [start_node(executable, domain, log_dir, "actor_0", values)]
    every = [p for group in procs.values() for p in group]
    try:
        time.sleep(startup_s)  # imported, built, discovered: the window holds no startup
        check_alive(every)
        begin, cpu_begin = time.monotonic(), cpu_seconds(procs)
        time.sleep(seconds)
        check_alive(every)
        end, cpu_end = time.monotonic(), cpu_seconds(procs)
    finally:
        codes = {name: stop_all(group) for name, group in procs.items()}
    report_unclean_exits(procs, codes)
    used, window_s = cpu_used(cpu_begin, cpu_end), end - begin
    return {"cpu_share_per_process": core_shares(used, window_s), "window_s": round(window_s, 1)}


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


def cpu_seconds(procs: dict[str, list]) -> dict[str, list[float]]:
    """CPU time (user + system, s) each process has used so far, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime, stime: fields 14 and 15

    return {name: [used(p.pid) for p in group] for name, group in procs.items()}


def cpu_used(begin: dict[str, list[float]], end: dict[str, list[float]]) -> dict[str, list[float]]:
    """CPU seconds each process used between two `cpu_seconds` readings."""
    return {name: [e - b for b, e in zip(begin[name], end[name], strict=True)] for name in end}


def core_shares(used: dict[str, list[float]], seconds: float) -> dict[str, float]:
    """Share of one core each process used in a window of `seconds`, the mean over its kind."""
    return {name: round(float(np.mean(u)) / seconds, 3) for name, u in used.items()}


def machine_ticks() -> tuple[int, int]:
    """(stolen, all) clock ticks of the whole machine so far, from /proc/stat (Linux). Stolen
    time is what the hypervisor gave other guests while this one had work: on a shared virtual
    machine it makes one window slower than the next for no reason in the graph."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    return fields[7], sum(fields[:8])


def actor_rate(events: list[dict], begin: float, end: float, episode_steps: int) -> float:
    """Env steps/s of one actor between its first and last episode end inside [begin, end]:
    each interval is whole episodes including the reset between them, and startup is left out."""
    inside = [e for e in events if begin <= e["t"] <= end]
    if len(inside) < 2:
        raise RuntimeError(f"fewer than 2 episodes ended in the window: {len(inside)}")
    first, last = inside[0], inside[-1]
    return (last["episode"] - first["episode"]) * episode_steps / (last["t"] - first["t"])


def bench_graph(
    n: int, seconds: float, warmup_episodes: int, log_dir: Path, composed=False
) -> dict:
    episode_steps = get_suite(load_run_config(RUN_CONFIG).train.suite).episode_steps
    domain = fresh_domain()
    store = log_dir / f"store_{n}"
    ros = RosContext(domain, "bench_graph")
    seen = episode_listener(ros)
    graph = start_graph(n, domain, store, log_dir / f"graph_{n}", composed)
    procs = [p for group in graph.values() for p in group]
    actors = [f"actor_{i}" for i in range(n)]

    def warmed_up() -> bool:
        check_alive(procs)
        return all(sum(e["actor"] == a for e in seen) >= warmup_episodes for a in actors)

    try:
        started = time.monotonic()
        ros.spin_until(warmed_up, 120, f"{warmup_episodes} episodes from each of {n} actors")
        startup_s = time.monotonic() - started
        begin, cpu_begin, ticks_begin = time.monotonic(), cpu_seconds(graph), machine_ticks()
        ros.spin_until(lambda: time.monotonic() - begin >= seconds, seconds + 5, "the window")
        check_alive(procs)
        end, cpu_end, ticks_end = time.monotonic(), cpu_seconds(graph), machine_ticks()
    finally:
        # Policies first, so no command is in flight when their bridges go; the recorder last,
        # so it writes every episode it completed into its final chunk.
        first = next(iter(graph))  # the policies, or the containers holding them
        codes = {first: stop_all(graph[first])}
        # Diagnostics of episodes that ended after the window may still be on their way: take
        # them in, so `episodes_reported` counts every episode the policies finished.
        ros.spin_for(1.0)
        codes |= {name: stop_all(group) for name, group in graph.items() if name not in codes}
        ros.close()
        report_unclean_exits(graph, codes)
    used, window_s = cpu_used(cpu_begin, cpu_end), end - begin
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
        "cpu_share_per_process": core_shares(used, window_s),
        # CPU time of the actors' processes (all but the recorder) per env step. The same code
        # should cost the same: where it costs more, the machine was slower in that window (a
        # shared VM's speed drifts) or its processes slowed each other, and ratios between
        # windows move with it.
        "actor_cpu_us_per_step": round(
            sum(sum(u) for name, u in used.items() if name != "replay_recorder")
            / window_s
            / sum(rates)
            * 1e6,
            1,
        ),
        # Of the machine's CPU time in the window, the share the hypervisor took (0 on bare
        # metal): a window with much of it measured a slower machine.
        "cpu_stolen_share": round(
            (ticks_end[0] - ticks_begin[0]) / max(ticks_end[1] - ticks_begin[1], 1), 3
        ),
        "episodes_reported": len(seen),
        "episodes_stored": sum(c.episodes for c in chunks),
        "startup_s": round(startup_s, 1),
        "window_s": round(window_s, 1),
        "exit_codes": {name: c for name, c in codes.items() if any(c)},
    }
