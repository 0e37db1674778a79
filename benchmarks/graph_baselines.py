"""The reference figures beside the graph's: the in-process loop (no ROS), a skill-policy node's
action at one state, a bare DDS round trip to an echo process, and the /policy_weights broadcast
to a subscriber in another process."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
from graph_harness import PING, PONG, RUN_CONFIG, WEIGHTS_ACK, RosContext, start_server, stop_all
from std_msgs.msg import Float64MultiArray, UInt8MultiArray

from skill_embedding_ros.agent.acting import skill_acting
from skill_embedding_ros.agent.actor import Actor
from skill_embedding_ros.agent.checkpoint import encode_weights
from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import weights_message
from skill_embedding_ros.ros.processes import fresh_domain
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.training.trainer import env_factory


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


def bench_acting(seconds: float, rounds: int = 3) -> dict:
    """A skill-policy node's core acting on one state (z held, a ~ pi(.|s, z), log b): with the
    numpy policy it acts with (agent/one_state.py) and through torch's `act`, as the in-process
    actor does; measured in turn, `rounds` times each, medians."""
    acting = skill_acting(RUN_CONFIG, "", False, 0)
    core, one_state = acting.core, acting.core.one_state
    obs = np.zeros((1, acting.suite.obs_dim), np.float32)
    core.begin(0, 0)

    def step_us(policy) -> float:
        core.one_state = policy
        for _ in range(200):  # warm-up
            core.act(obs)
        count, begin = 0, time.perf_counter()
        while time.perf_counter() - begin < seconds / (2 * rounds):
            core.act(obs)
            count += 1
        return (time.perf_counter() - begin) / count * 1e6

    torch_us, numpy_us = [], []
    for _ in range(rounds):
        torch_us.append(step_us(None))
        numpy_us.append(step_us(one_state))
    core.one_state = one_state
    torch_med, numpy_med = float(np.median(torch_us)), float(np.median(numpy_us))
    return {
        "one_state_us": round(numpy_med, 1),
        "torch_us": round(torch_med, 1),
        "torch_over_one_state": round(torch_med / numpy_med, 2),
    }


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
