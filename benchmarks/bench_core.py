"""Core speed figures: learner updates/s, in-process env steps/s, and SB3 SAC as a reference.

    python benchmarks/bench_core.py --out benchmarks/results_core.json
    python benchmarks/bench_core.py --device cuda --out benchmarks/results_core_cuda.json

All figures come from one run on one machine, so the ratio to SB3 is the number to compare
across machines; absolute rates depend on the CPU and what else runs on it. The rates a ratio
compares (the learner in float32, in bfloat16, with ReLU, at the configs' batch, and SB3's
update) are measured in turn, `--rounds` times each (their medians), so a load that comes and
goes touches them alike; torch.compile's, after its minute of compiling, in turn with the
same learner eager (on a GPU also both op by op). With `--device cuda` the learner trains on
the GPU (the actor stays on the CPU, SB3's update goes with it), the rates in turn add the
learner launching each kernel itself (agent.cuda_graph: false) against its default, one CUDA
graph per update, and the same run measures it on both devices at 1, 4 and 16
times the batch, where a GPU earns its keep.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from skill_embedding_ros.agent.actor import Actor
from skill_embedding_ros.agent.cuda_graph import WARMUP_UPDATES
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.agent.networks import precision_warning
from skill_embedding_ros.data.replay import ReplayBuffer
from skill_embedding_ros.provenance import git_commit, machine
from skill_embedding_ros.settings.run import ReplayConfig, RunConfig, from_dict
from skill_embedding_ros.training.trainer import (
    build_networks,
    env_factory,
    hold_steps,
    replay_update,
)

# The networks every committed figure was measured with, and SB3's net_arch below: the tuned
# configs' 2x128 (the defaults are now the paper's 2x100 / 2x200, settings/run.py).
NETS = {"hidden": [128, 128], "critic_hidden": [128, 128]}


def _rate(fn, seconds: float) -> float:
    """Calls of fn per second, after one warm-up call."""
    fn()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - start)


def _rates_in_turn(calls: dict, seconds: float, rounds: int) -> dict[str, float]:
    """Calls/s of each function, measured in turn `rounds` times; the median of each. A load
    that comes and goes during the run then touches every one of them alike."""
    seen: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            seen[name].append(_rate(fn, seconds))
    return {name: float(np.median(rates)) for name, rates in seen.items()}


def _gflop(fn) -> float:
    """Floating-point operations of one call of fn (matrix products, forward and backward: what
    torch's FlopCounterMode counts), in 1e9, after one warm-up call."""
    fn()
    with FlopCounterMode(display=False) as counter:
        fn()
    return round(counter.get_total_flops() / 1e9, 3)


def _matmul_gflop_per_s(rows: int, width: int, seconds: float, dtype=torch.float32) -> float:
    """One thread's rate on a product the size of a layer's at this batch: what the arithmetic
    of an update could run at, at best."""
    x, w = torch.randn(rows, width, dtype=dtype), torch.randn(width, width, dtype=dtype)
    return round(_rate(lambda: x @ w, seconds) * 2 * rows * width * width / 1e9, 1)


def bench_learner(
    batch: int, segment: int, seconds: float, device: str, rounds: int, sb3_update, compile_too
) -> dict:
    """`sb3_update`: one SB3 SAC update on the same number of transitions, or None; it is
    measured in turn with the learner's variants (`_rates_in_turn`)."""
    cfg = from_dict(RunConfig, {"agent": NETS, "replay": {"batch": batch, "segment": segment}})
    actor_nets = build_networks(cfg)
    actor = Actor(env_factory(cfg), 8, actor_nets.embedding, actor_nets.policy, seed=0)
    replay = ReplayBuffer(
        cfg.replay.capacity, actor_nets.obs_dim, actor_nets.action_dim, cfg.agent.z_dim
    )
    while len(replay) < 20_000:
        for ep in actor.step():
            replay.add(ep)
    rng = np.random.default_rng(0)

    def one_update(
        segments: int, on: str, activation="elu", precision="float32", compiled=False, graph=True
    ):
        replay_cfg = {"batch": segments, "segment": segment}
        agent = {**NETS, "activation": activation, "precision": precision}
        agent |= {"cuda_graph": graph, "compile": compiled}
        sized = from_dict(RunConfig, {"agent": agent, "replay": replay_cfg})
        learner = Learner(build_networks(sized), hold_steps(sized), on)
        return lambda: replay_update(learner, replay, sized, rng)

    def updates_per_s(segments: int, on: str, **kwargs) -> float:
        return _rate(one_update(segments, on, **kwargs), seconds)

    # Every variant a ratio compares, in turn: float32; mixed precision (agent.precision:
    # bfloat16; ELU kept); SB3; the cheaper activation (agent.activation: relu); both
    # precisions again at the batch the configs train with (replay.batch's default).
    small = ReplayConfig().batch
    calls = {
        "float32": one_update(batch, device),
        "bfloat16": one_update(batch, device, precision="bfloat16"),
        "relu": one_update(batch, device, activation="relu"),
        f"float32_batch_{small}": one_update(small, device),
        f"bfloat16_batch_{small}": one_update(small, device, precision="bfloat16"),
    }
    if device != "cpu":  # agent.cuda_graph: false, each kernel launched on its own
        calls["float32_op_by_op"] = one_update(batch, device, graph=False)
    if sb3_update is not None:
        calls["sb3"] = sb3_update
    rates = _rates_in_turn(calls, seconds, rounds)
    updates, bf16 = rates["float32"], rates["bfloat16"]
    results = {
        "rounds_in_turn": rounds,
        "learner_updates_per_s": round(updates, 1),
        "learner_transitions_per_s": round(updates * batch * segment),
        "learner_gflop_per_update": _gflop(one_update(batch, device)),
        "learner_updates_per_s_bfloat16": round(bf16, 1),
        "learner_transitions_per_s_bfloat16": round(bf16 * batch * segment),
        "learner_bfloat16_vs_float32": round(bf16 / updates, 2),
        "learner_updates_per_s_relu": round(rates["relu"], 1),
        "learner_relu_vs_elu": round(rates["relu"] / updates, 2),
    }
    for precision in ("float32", "bfloat16"):
        key = f"{precision}_batch_{small}"
        results[f"learner_updates_per_s_{key}"] = round(rates[key], 1)
    results[f"learner_bfloat16_vs_float32_batch_{small}"] = round(
        rates[f"bfloat16_batch_{small}"] / rates[f"float32_batch_{small}"], 2
    )
    if device != "cpu":
        results["learner_updates_per_s_op_by_op"] = round(rates["float32_op_by_op"], 1)
        results["learner_cuda_graph_vs_op_by_op"] = round(updates / rates["float32_op_by_op"], 2)
    if sb3_update is not None:
        results["sb3_sac_updates_per_s"] = round(rates["sb3"], 1)
        results["sb3_sac_gflop_per_update"] = _gflop(sb3_update)
    results["env_steps_per_s_inprocess_8_envs"] = round(8 * _rate(actor.step, seconds))
    if device != "cpu":
        # The same learner on this machine's CPU, in the same run, at growing batches.
        for segments in (batch, 4 * batch, 16 * batch):
            for on in (device, "cpu"):
                rate = (
                    updates if (segments, on) == (batch, device) else updates_per_s(segments, on)
                )
                results[f"learner_updates_per_s_{on}_batch_{segments}"] = round(rate, 1)
            results[f"learner_{device}_vs_cpu_batch_{segments}"] = round(
                results[f"learner_updates_per_s_{device}_batch_{segments}"]
                / results[f"learner_updates_per_s_cpu_batch_{segments}"],
                2,
            )
    if compile_too:  # last: a capture that fails may leave the GPU's stream unusable
        results.update(bench_compiled(one_update, batch, device, seconds, rounds))
    return results


def bench_compiled(one_update, batch: int, device: str, seconds: float, rounds: int) -> dict:
    """agent.compile (every MLP under torch.compile, ELU kept) against the same learner eager,
    in turn; on a GPU both inside agent.cuda_graph's capture (the default) and op by op. The
    first updates compile (their seconds are reported); a variant that fails is reported."""
    variants = {"eager": one_update(batch, device)}
    results: dict = {}
    for graph in (False, True) if device != "cpu" else (True,):
        suffix = "" if graph else "_op_by_op"
        if suffix:
            variants["eager" + suffix] = one_update(batch, device, graph=False)
        fn = one_update(batch, device, compiled=True, graph=graph)
        start = time.perf_counter()
        try:  # past the warm-up updates: the capture, where there is one
            for _ in range(WARMUP_UPDATES + 2):
                fn()
        except Exception as error:  # what failed is the figure
            failed = f"failed: {type(error).__name__}: {error}"
            results["learner_compiled" + suffix] = failed[:300]
            continue
        results[f"learner_compile_seconds{suffix}"] = round(time.perf_counter() - start, 1)
        variants["compiled" + suffix] = fn
    rates = _rates_in_turn(variants, seconds, rounds)
    for name, rate in rates.items():
        results[f"learner_updates_per_s_{name}"] = round(rate, 1)
    for suffix in ("", "_op_by_op"):
        if "compiled" + suffix in rates:
            ratio = rates["compiled" + suffix] / rates["eager" + suffix]
            results[f"learner_compiled_vs_eager{suffix}"] = round(ratio, 2)
    return results


def sb3_sac_update(batch: int, device: str):
    """One SB3 SAC gradient step on `batch` transitions on `device` (a function), or None where
    stable-baselines3 is not installed."""
    try:
        from stable_baselines3 import SAC
    except ImportError:
        return None
    from skill_embedding_ros.tasks.env import SuiteEnv

    env = SuiteEnv("reach", ["any"], seed=0)
    model = SAC(
        "MlpPolicy",
        env,
        batch_size=batch,
        learning_starts=0,
        verbose=0,
        seed=0,
        policy_kwargs={"net_arch": [128, 128]},
        device=device,
    )
    model.learn(2_000)
    return lambda: model.train(1, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results_core.json")
    parser.add_argument("--seconds", type=float, default=10.0, help="time per measurement")
    parser.add_argument("--device", default="cpu", help="torch device of the learner")
    parser.add_argument(
        "--no-compile", action="store_true", help="skip torch.compile's variant (a minute)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="turns of the rates a ratio compares (median)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    batch, segment = 256, 10
    cuda = args.device.startswith("cuda")
    on = {"learner_on": torch.cuda.get_device_name(args.device)} if cuda else {}
    results = {
        "command": "python " + shlex.join(sys.argv),
        "commit": git_commit(),
        "machine": machine(torch_threads=1, **on),
        "device": args.device,
        "batch_segments": batch,
        "segment_steps": segment,
        # Whether the bfloat16 figures ran on the device's own bfloat16 arithmetic: without it
        # (an AVX2 CPU) they measure a slow fallback (agent/networks.py precision_warning).
        "bfloat16_native": not precision_warning("bfloat16", args.device),
    }
    # SB3 samples single transitions: give it the same transitions per update.
    sb3 = sb3_sac_update(batch * segment, args.device)
    if sb3 is None:
        results["note"] = "stable-baselines3 not installed: no SB3 figures"
    results.update(
        bench_learner(
            batch, segment, args.seconds, args.device, args.rounds, sb3, not args.no_compile
        )
    )
    if results.get("sb3_sac_updates_per_s"):
        for key, variant in (("", ""), ("_bfloat16", "_bfloat16")):
            results[f"learner{variant}_vs_sb3_transitions_ratio"] = round(
                results[f"learner_transitions_per_s{key}"]
                / (results["sb3_sac_updates_per_s"] * batch * segment),
                2,
            )
        # Arithmetic per second, each side, against one layer's product alone: how close to the
        # CPU's matrix-product rate each update runs, apart from how much arithmetic it asks for.
        results["matmul_gflop_per_s"] = _matmul_gflop_per_s(batch * segment, 128, args.seconds)
        results["matmul_gflop_per_s_bfloat16"] = _matmul_gflop_per_s(
            batch * segment, 128, args.seconds, torch.bfloat16
        )
        for who in ("learner", "sb3_sac"):
            rate = results[f"{who}_updates_per_s"] * results[f"{who}_gflop_per_update"]
            results[f"{who}_gflop_per_s"] = round(rate, 1)
        results["learner_vs_sb3_gflop_per_update"] = round(
            results["learner_gflop_per_update"] / results["sb3_sac_gflop_per_update"], 2
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
