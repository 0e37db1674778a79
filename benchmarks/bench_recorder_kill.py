"""What a `kill -9` of the replay recorder loses: closed episodes (closing record published
before the kill) that are not in the store after a restart recovered it.

    python benchmarks/bench_recorder_kill.py --out benchmarks/results_recorder_kill.json
    python benchmarks/bench_recorder_kill.py --kills 2 --load 0          # a quick look
    python benchmarks/bench_recorder_kill.py --graph --actors 2          # a real actor graph

Per kill: a fresh store, the recorder node as its own process (flush_period 1 s, as in the
graphs), a probe publishing `--actors` actors' episodes of 50 steps at `--rate` records/s in
total (a 2-actor lockstep graph makes about 400-500 here), `--load` busy processes beside it
(the learner's share of the CPU), a SIGKILL after a random 4-8 s, a restart that recovers the
write-ahead log, then the store is compared with what was published. An episode counts as lost
when its closing record went out more than `--grace` s before the kill (the ones closing
within that grace are the "in flight" the docs allow) and it is not in the store; the figure is
also given by how long before the kill the lost episodes closed. With `--graph` the records
come from real actors instead (per actor a lockstep sim bridge, safety gate and exploring
skill policy, unpaced, as train_sim starts them), and a probe subscribed to their record topics
notes when each episode closed.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from std_msgs.msg import Float64MultiArray

from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.assembly import episode_records
from skill_embedding_ros.data.replay_store import StoreReader, list_chunks, source_of
from skill_embedding_ros.provenance import git_commit, machine
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import record_message
from skill_embedding_ros.ros.processes import (
    Probe,
    fresh_domain,
    graph_params,
    log_text,
    start_node,
    stop,
)
from skill_embedding_ros.testing.episodes import episode_uid, random_episode

STEPS = 50
BUSY = "while True: pass"


def _episode_messages(uid: int, actor: int) -> list[Float64MultiArray]:
    episode = random_episode(uid, STEPS)
    stamps = np.arange(STEPS + 1) * 10**8
    return [record_message(r) for r in episode_records(episode, f"/actor_{actor}", uid, stamps)]


def one_kill(args, round_: int, work: Path, rng: random.Random) -> dict:
    domain, store = fresh_domain(), work / f"store_{round_}"
    params = {"store": str(store), "flush_period": 1.0, "scan_period": 0.2}
    recorder = start_node("replay_recorder", domain, work / f"logs_{round_}", params=params)
    probe = Probe(domain)
    pubs = [
        probe.node.create_publisher(
            Float64MultiArray, f"/actor_{a}/{topics.STEP_RECORDS}", topics.RECORDS
        )
        for a in range(args.actors)
    ]
    try:
        probe.spin_until(
            lambda: all(p.get_subscription_count() == 1 for p in pubs), 60, "the recorder"
        )
        probe.spin_for(1.0)
        closed: dict[int, float] = {}  # uid -> monotonic time its closing record went out
        streams = [[] for _ in pubs]  # per actor: (uid, messages) still to publish
        next_uid = [1000 * round_ * args.actors + a for a in range(args.actors)]
        kill_at = time.monotonic() + rng.uniform(4.0, 8.0)
        period, sent, start = 1.0 / args.rate, 0, time.monotonic()
        while time.monotonic() < kill_at:
            actor = sent % len(pubs)
            if not streams[actor]:
                uid = next_uid[actor]
                next_uid[actor] += args.actors
                streams[actor] = [(uid, m) for m in _episode_messages(uid, actor)]
            uid, message = streams[actor].pop(0)
            pubs[actor].publish(message)
            if not streams[actor]:
                closed[uid] = time.monotonic()
            sent += 1
            delay = start + sent * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        recorder.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        recorder.wait()
        restarted = start_node("replay_recorder", domain, work / f"logs_{round_}b", params=params)
        probe.spin_until(lambda: "recovered" in log_text(restarted), 60, "the restart")
        code = stop(restarted)
        if code != 0:
            print(log_text(restarted)[-3000:], file=sys.stderr)
    finally:
        stop(recorder)
        probe.close()
    stored = {episode_uid(e) for e in StoreReader(store).new_episodes()}
    ages = {uid: killed - t for uid, t in closed.items()}
    lost = sorted(round(ages[u], 3) for u in closed if u not in stored and ages[u] > args.grace)
    return {
        "episodes_closed": len(closed),
        "episodes_closed_before_grace": sum(a > args.grace for a in ages.values()),
        "lost": len(lost),
        "lost_closed_s_before_kill": lost,
        "lost_within_grace": sum(u not in stored and ages[u] <= args.grace for u in closed),
        "records_per_s": round(sent / (killed - start)),
        "restart_exit_code": code,
    }


def graph_kill(args, round_: int, work: Path, rng: random.Random) -> dict:
    """One kill of the recorder under a real actor graph."""
    domain, store, logs = fresh_domain(), work / f"store_{round_}", work / f"logs_{round_}"
    params = {**graph_params("replay_recorder"), "store": str(store)}
    recorder = start_node("replay_recorder", domain, logs, params=params)
    actors = []
    for i in range(args.actors):
        ns, seed = f"actor_{i}", 1000 * round_ + i
        actors += [
            start_node("sim_bridge", domain, logs, ns, graph_params("sim_bridge", seed=seed)),
            start_node("safety_gate", domain, logs, ns, graph_params("safety_gate")),
            start_node(
                "skill_policy", domain, logs, ns, graph_params("skill_policy", seed=seed, actors=0)
            ),
        ]
    # Episodes count from when the recorder is surely subscribed: a policy starts once any
    # subscriber (this probe too) is there, and what goes out before the recorder's match is
    # lost whatever the recorder does.
    want = [f"recording /actor_{i}/{topics.STEP_RECORDS}" for i in range(args.actors)]
    probe = Probe(domain)
    probe.spin_until(lambda: all(w in log_text(recorder) for w in want), 120, "the recorder")
    probe.spin_for(3.0)
    closed: dict[tuple[str, int], float] = {}

    def on_record(topic: str, data: bytes) -> None:
        record = sr.decode_cdr(data, source_of(topic))
        if record.last:
            closed[(record.source, record.episode)] = time.monotonic()

    for i in range(args.actors):
        topic = f"/actor_{i}/{topics.STEP_RECORDS}"
        probe.node.create_subscription(
            Float64MultiArray, topic, functools.partial(on_record, topic), topics.RECORDS, raw=True
        )
    try:
        probe.spin_until(lambda: len(closed) >= 2 * args.actors, 120, "the actors' episodes")
        start, sent = time.monotonic(), len(closed)
        probe.spin_for(rng.uniform(5.0, 10.0))
        recorder.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        recorder.wait()
        probe.spin_for(0.5)
        for proc in actors:
            stop(proc)
        restarted = start_node("replay_recorder", domain, work / f"logs_{round_}b", params=params)
        probe.spin_until(lambda: "recovered" in log_text(restarted), 60, "the restart")
        code = stop(restarted)
    finally:
        for proc in [recorder, *actors]:
            stop(proc)
        probe.close()
    stored = set()
    for chunk in list_chunks(store):
        for episode in _closing_records(chunk.path):
            stored.add(episode)
    ages = {key: killed - t for key, t in closed.items() if t < killed}
    lost = sorted(round(a, 3) for k, a in ages.items() if k not in stored and a > args.grace)
    return {
        "episodes_closed": len(ages),
        "lost": len(lost),
        "lost_closed_s_before_kill": lost,
        "lost_within_grace": sum(k not in stored and a <= args.grace for k, a in ages.items()),
        "episodes_per_s": round((len(ages) - sent) / (killed - start), 1),
        "restart_exit_code": code,
    }


def _closing_records(chunk: Path) -> list[tuple[str, int]]:
    """(actor, episode counter) of every episode stored in a chunk."""
    from rosbags.rosbag2 import Reader

    with Reader(chunk) as bag:
        return [
            (record.source, record.episode)
            for c, _, raw in bag.messages()
            if (record := sr.decode_cdr(bytes(raw), source_of(c.topic))).last
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--actors", type=int, default=4)
    parser.add_argument("--rate", type=float, default=1000.0, help="records/s in total")
    parser.add_argument("--load", type=int, default=2, help="busy processes beside it")
    parser.add_argument("--grace", type=float, default=0.05, help="s: closing 'in flight'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--graph", action="store_true", help="records from real actors")
    parser.add_argument("--out")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(args.load)]
    load_start = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            kill = graph_kill if args.graph else one_kill
            rounds = [kill(args, r, Path(tmp), rng) for r in range(args.kills)]
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    result = {
        "command": "python " + " ".join(sys.argv),
        "commit": git_commit(),
        "machine": machine(load_average_at_start=[round(x, 2) for x in load_start]),
        "settings": vars(args),
        "lost_per_kill": [r["lost"] for r in rounds],
        "episodes_closed_per_kill": [r["episodes_closed"] for r in rounds],
        "worst_lost_closed_s_before_kill": max(
            (max(r["lost_closed_s_before_kill"], default=0.0) for r in rounds), default=0.0
        ),
        "rounds": rounds,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
