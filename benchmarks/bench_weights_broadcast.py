"""What the learner's weight broadcast costs a network link at 1, 4 and 16 actors
(docs/multi_host.md): a learner's /policy_weights (the real message of a run config's networks,
latched and reliable as the learner publishes it) sent at `--rate` Hz from one host to N
subscriber processes (one DDS participant each, as N skill policies) on another, the two hosts
being network namespaces joined by a veth pair, DDS over UDP only. Needs root.

    python benchmarks/bench_weights_broadcast.py --out benchmarks/results_weights_broadcast.json

Per N: the bytes the learner's host sent per second over the link (every reader gets its own
copy: DDS over UDP unicast), per actor, and the share of broadcasts each reader received.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def weights_bytes(config: str, overrides: tuple[str, ...]) -> bytes:
    from skill_embedding_ros.agent.checkpoint import encode_weights
    from skill_embedding_ros.agent.run_networks import build_networks
    from skill_embedding_ros.settings.run import load_run_config

    nets = build_networks(load_run_config(config, overrides))
    return encode_weights(nets.actor_state(), 1, run="bench", updates=1, env_steps=1)


def publish(args) -> int:
    """Role `pub`: the learner's side."""
    import rclpy
    from std_msgs.msg import UInt8MultiArray

    from skill_embedding_ros.ros import topics
    from skill_embedding_ros.ros.conversions import weights_message

    msg = weights_message(weights_bytes(args.config, tuple(args.set)))
    rclpy.init()
    node = rclpy.create_node("bench_learner")
    pub = node.create_publisher(UInt8MultiArray, topics.POLICY_WEIGHTS, topics.LATCHED)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        pub.publish(msg)
        rclpy.spin_once(node, timeout_sec=1.0 / args.rate)
    return 0


def subscribe(args) -> int:
    """Role `sub`: one actor's skill policy, counting what arrives."""
    import rclpy
    from std_msgs.msg import UInt8MultiArray

    from skill_embedding_ros.ros import topics

    rclpy.init()
    node = rclpy.create_node(f"bench_actor_{args.index}")
    got = {"messages": 0, "bytes": 0, "first": None}

    def on_weights(msg) -> None:
        got["messages"] += 1
        got["bytes"] += len(msg.data)
        got["first"] = got["first"] or time.monotonic()

    node.create_subscription(UInt8MultiArray, topics.POLICY_WEIGHTS, on_weights, topics.LATCHED)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    print(json.dumps({k: v for k, v in got.items() if k != "first"}), flush=True)
    return 0


def measure(actors: int, args, size: int) -> dict:
    from skill_embedding_ros.ros.processes import fresh_domain, ros_env
    from skill_embedding_ros.testing.netns import TwoHosts, network_env

    env = network_env(ros_env(fresh_domain()))
    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--config", args.config, *(f"--set={s}" for s in args.set)]
    with TwoHosts(net=60 + actors) as hosts:
        subs = [
            hosts.popen(
                "b",
                [*me, "--role", "sub", "--index", str(i), "--seconds", str(args.seconds + 8)],
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(actors)
        ]
        time.sleep(4.0)  # the subscribers' participants up before the first broadcast
        before = hosts.sent_bytes("a")
        pub = hosts.popen(
            "a", [*me, "--role", "pub", "--seconds", str(args.seconds), "--rate", str(args.rate),
                  *common],
            env=env, cwd=REPO,
        )  # fmt: skip
        pub.wait(args.seconds + 60)
        sent = hosts.sent_bytes("a") - before
        received = [
            json.loads(s.communicate(timeout=60)[0].strip().splitlines()[-1]) for s in subs
        ]
    broadcasts = args.seconds * args.rate
    return {
        "actors": actors,
        "broadcasts_sent": round(broadcasts),
        "link_megabytes_per_s": round(sent / args.seconds / 1e6, 3),
        "per_actor_megabytes_per_s": round(sent / args.seconds / 1e6 / actors, 3),
        "payload_megabytes_per_s": round(size * args.rate * actors / 1e6, 3),
        "received_share_min": round(min(r["messages"] for r in received) / broadcasts, 3),
        "received_share_mean": round(
            sum(r["messages"] for r in received) / actors / broadcasts, 3
        ),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--role", choices=["main", "pub", "sub"], default="main")
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--config", default="reach_bernoulli.yaml")
    p.add_argument("--set", action="append", default=[], help="section.key=value override")
    p.add_argument("--rate", type=float, default=5.0, help="broadcasts per second")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--actors", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    if args.role == "pub":
        return publish(args)
    if args.role == "sub":
        return subscribe(args)
    from skill_embedding_ros.provenance import git_commit
    from skill_embedding_ros.testing.netns import unavailable

    why = unavailable()
    if why:
        print(f"skipped: {why}")
        return 0
    size = len(weights_bytes(args.config, tuple(args.set)))
    print(f"{args.config} {args.set}: one broadcast is {size / 1e3:.1f} kB, {args.rate:g} per s")
    rows = []
    for n in args.actors:
        row = measure(n, args, size)
        rows.append(row)
        print(
            f"{n:3d} actors: {row['link_megabytes_per_s']:.2f} MB/s on the link "
            f"({row['per_actor_megabytes_per_s']:.2f} per actor; payload "
            f"{row['payload_megabytes_per_s']:.2f}), received {row['received_share_mean']:.0%} "
            f"(min {row['received_share_min']:.0%})",
            flush=True,
        )
    if args.out:
        result = {
            "command": shlex.join(["python", *sys.argv]),
            "commit": git_commit(),
            "config": args.config,
            "overrides": args.set,
            "message_bytes": size,
            "rate_hz": args.rate,
            "seconds": args.seconds,
            "rows": rows,
        }
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
