"""Chaos: kill every node type of a training graph with SIGKILL at random moments, restart it,
and count what did not survive.

    make chaos                                     # 20 kills per node type, ~15 minutes
    .venv/bin/python scripts/chaos.py --kills 3    # a quick look

One actor (sim bridge, safety gate, skill policy), the replay recorder and the learner run as
their own processes over real DDS on an isolated domain. A probe keeps every episode the policy
closed (its closing record). In random order, each node type is killed `--kills` times, 1-4 s
apart, and started again with the same parameters; before each gate kill the e-stop is latched.
At the end the graph stops cleanly and the script prints, and writes to --out:

* stores unreadable: chunks of the replay store that its reader skips;
* episodes lost: closed episodes that never reached the store, apart from the documented loss
  of a recorder kill, counted separately: episodes with records published between
  `--recorder-window` s before the kill and the restarted recorder's subscription (no recorder
  was there to take them; docs/ros_graph.md);
* duplicates: episodes stored more than once;
* counts not restored: learner restarts whose env-step count, once its checkpoint was read back,
  was below the one it had reached before the kill minus what the checkpoint period allows,
  and the final checkpoint's env steps against the steps in the store;
* e-stop lost: gate restarts that came up with the e-stop released.

All but the documented losses must be zero; the exit code says whether they are.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool

from skill_embedding_ros.agent.checkpoint import read_checkpoint
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.store_chunks import scan_chunks
from skill_embedding_ros.data.store_reader import StoreReader
from skill_embedding_ros.provenance import git_commit
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.processes import (
    Probe,
    fresh_domain,
    graph_params,
    log_text,
    start_node,
    stop,
)

EPISODE_S = 5.0
"""Longest wall time of one episode here (50 lockstep steps, usually ~1 s)."""
TYPES = ("sim_bridge", "safety_gate", "skill_policy", "replay_recorder", "learner")
CONFIG = """
agent: {hidden: [32, 32], critic_hidden: [32, 32]}
replay: {capacity: 50000, batch: 16}
train: {suite: reach, tasks: [any], env_steps: 100000000, warmup_steps: 500, log_every: 1000}
"""


def episode_key(obs: np.ndarray) -> bytes:
    """An episode's identity: its first and final observations (float32), as stored."""
    obs = np.asarray(obs, np.float32)
    return obs[0].tobytes() + obs[-1].tobytes()


class Chaos:
    def __init__(self, root: Path, seed: int):
        self.root, self.rng = root, random.Random(seed)
        self.domain = fresh_domain()
        config = root / "run.yaml"
        config.write_text(CONFIG)
        self.store, self.run_dir = root / "store", root / "run"
        self.params = {
            "sim_bridge": graph_params("sim_bridge", seed=1),
            "safety_gate": graph_params("safety_gate", estop_file=str(root / "estop/{node}")),
            "skill_policy": {"config": str(config), "seed": 1, "actors": 0},
            "replay_recorder": {"store": str(self.store), "flush_period": 0.25},
            "learner": {
                "config": str(config),
                "store": str(self.store),
                "out": str(self.run_dir),
                "checkpoint_period": 1.0,
                "scan_period": 0.25,
            },
        }
        self.procs: dict[str, subprocess.Popen] = {}
        self.starts: dict[str, int] = {}
        self.closed: dict[bytes, float] = {}  # episode key -> when its closing record came
        self.open: dict[int, list[np.ndarray]] = {}
        self.gate: dict[str, str] = {}
        self.learner_steps = 0
        self.probe = Probe(self.domain, "chaos_probe")
        node = self.probe.node
        node.create_subscription(
            Float64MultiArray, "/actor_0/" + topics.STEP_RECORDS, self._on_record, topics.RECORDS
        )
        node.create_subscription(
            DiagnosticStatus, "/actor_0/" + topics.GATE_STATE, self._on_gate, topics.LATCHED
        )
        self.estop = node.create_client(SetBool, "/actor_0/" + topics.ESTOP)

    # -- probe ------------------------------------------------------------------------------

    def _on_record(self, msg: Float64MultiArray) -> None:
        labels = [d.label for d in msg.layout.dim]
        record = sr.decode(labels, [d.size for d in msg.layout.dim], np.asarray(msg.data))
        if record.step == 0:
            self.open[record.episode] = []
        rows = self.open.get(record.episode)
        if rows is None:
            return  # began before the probe (or a policy restart) saw it
        rows.append(record.obs)
        if record.last:
            self.closed[episode_key(np.array(self.open.pop(record.episode)))] = time.monotonic()

    def _on_gate(self, msg: DiagnosticStatus) -> None:
        self.gate = {kv.key: kv.value for kv in msg.values}

    # -- processes --------------------------------------------------------------------------

    def start(self, kind: str) -> None:
        namespace = "" if kind in ("replay_recorder", "learner") else "actor_0"
        if "seed" in self.params[kind]:
            # A new seed per start: a restarted bridge and policy with their old seeds replay
            # the very same episodes, which would count as duplicates.
            self.starts[kind] = self.starts.get(kind, 0) + 1
            self.params[kind]["seed"] = self.starts[kind]
        self.procs[kind] = start_node(
            kind, self.domain, self.root / "logs", namespace, self.params[kind]
        )

    def kill(self, kind: str) -> float:
        proc = self.procs[kind]
        if proc.poll() is not None:
            raise SystemExit(f"{kind} died on its own:\n{log_text(proc)[-3000:]}")
        proc.kill()
        proc.wait()
        return time.monotonic()

    def record_subscriptions(self) -> set[bytes]:
        """The subscriptions to the records in the graph (the probe's among them), by id. A
        killed recorder's stays there for its DDS lease (20 s), so a count cannot tell
        whether the restarted one is up; a new id can."""
        infos = self.probe.node.get_subscriptions_info_by_topic("/actor_0/" + topics.STEP_RECORDS)
        return {bytes(info.endpoint_gid) for info in infos}

    def call_estop(self, latch: bool) -> bool:
        """Latch or release the e-stop, asking again every 2 s: a killed gate's service stays
        "ready" for its DDS lease, so a request can go out before the restarted gate's server
        has matched and be lost (latching and releasing are idempotent)."""
        deadline = time.monotonic() + 30.0
        while True:
            self.probe.spin_until(self.estop.service_is_ready, 30.0, "the e-stop service")
            future = self.estop.call_async(SetBool.Request(data=latch))
            try:
                self.probe.spin_until(future.done, 2.0, "the e-stop reply")
                return future.result().success
            except AssertionError:
                self.estop.remove_pending_request(future)
                if time.monotonic() > deadline:
                    raise

    def learner_checkpoint_steps(self) -> int:
        path = self.run_dir / "checkpoint.safetensors"
        return int(read_checkpoint(path)[1].get("env_steps", 0)) if path.exists() else 0

    # -- the run ----------------------------------------------------------------------------

    def run(self, kills: int, window: float, types=TYPES) -> dict:
        for kind in TYPES:
            self.start(kind)
        self.probe.spin_until(lambda: len(self.closed) >= 3, 120.0, "the first episodes")
        schedule = [kind for kind in types for _ in range(kills)]
        self.rng.shuffle(schedule)
        recorder_kills: list[float] = []
        counts_not_restored = estop_lost = 0
        for n, kind in enumerate(schedule, 1):
            self.probe.spin_for(self.rng.uniform(1.0, 4.0))
            if kind == "safety_gate":
                self.call_estop(True)
            before = self.learner_checkpoint_steps() if kind == "learner" else 0
            subscriptions = self.record_subscriptions()
            at = self.kill(kind)
            if kind == "safety_gate":
                # Gate states the dead gate sent before the kill may still wait in the probe's
                # queue; they must not be taken for the restarted gate's.
                self.probe.spin_for(0.5)
                self.gate = {}
            self.start(kind)
            if kind == "replay_recorder":
                # Down until the new recorder subscribes (a subscription not there before).
                self.probe.spin_until(
                    lambda old=subscriptions: self.record_subscriptions() - old,
                    60.0,
                    "the restarted recorder",
                )
                recorder_kills.append((at, time.monotonic()))
            if kind == "safety_gate":
                self.probe.spin_until(lambda: self.gate, 30.0, "the restarted gate's state")
                estop_lost += self.gate.get("estop") != "true"
                self.call_estop(False)
            if kind == "learner":
                # The restarted learner counts on from its checkpoint, never below it.
                self.probe.spin_for(3.0)
                counts_not_restored += self.learner_checkpoint_steps() < before
            print(f"[{n}/{len(schedule)}] killed and restarted {kind}", flush=True)
        self.probe.spin_for(5.0)
        for kind in ("skill_policy", "safety_gate", "sim_bridge"):
            stop(self.procs.pop(kind))
        self.probe.spin_for(3.0)  # the recorder stores what is in flight, the learner reads it
        for kind in ("replay_recorder", "learner"):
            stop(self.procs.pop(kind))
        return self.report(recorder_kills, window, counts_not_restored, estop_lost)

    def report(self, recorder_kills, window, counts_not_restored, estop_lost) -> dict:
        _, unreadable = scan_chunks(self.store)
        stored = StoreReader(self.store).new_episodes()
        keys = [episode_key(e.obs) for e in stored]
        documented = lost = 0
        for key, closed_at in self.closed.items():
            if key in keys:
                continue
            # An episode with records published from `window` s before a recorder kill until
            # its successor subscribed (plus one episode) could not reach the store.
            if any(kill - window <= closed_at <= up + EPISODE_S for kill, up in recorder_kills):
                documented += 1
            else:
                lost += 1
        steps_in_store = sum(len(e.action) for e in stored)
        final_steps = self.learner_checkpoint_steps()
        return {
            "episodes_closed": len(self.closed),
            "episodes_stored": len(stored),
            "stores_unreadable": len(unreadable),
            "episodes_lost": lost,
            "episodes_lost_documented": documented,
            "duplicates": len(keys) - len(set(keys)),
            "counts_not_restored": counts_not_restored,
            "final_env_steps": final_steps,
            "env_steps_in_store": steps_in_store,
            "estop_lost": estop_lost,
        }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="kills per node type (20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--types", nargs="+", choices=TYPES, default=list(TYPES), help="node types to kill (all)"
    )
    parser.add_argument(
        "--recorder-window",
        type=float,
        default=3.0,
        help="seconds before a recorder kill whose closed episodes may be lost",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results_chaos.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chaos_") as tmp:
        chaos = Chaos(Path(tmp), args.seed)
        try:
            result = chaos.run(args.kills, args.recorder_window, tuple(args.types))
        finally:
            for proc in chaos.procs.values():
                stop(proc)
            chaos.probe.close()
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    must_be_zero = (
        "stores_unreadable",
        "episodes_lost",
        "duplicates",
        "counts_not_restored",
        "estop_lost",
    )
    ok = all(result[k] == 0 for k in must_be_zero)
    ok = ok and result["final_env_steps"] == result["env_steps_in_store"]
    record = {
        "command": " ".join(["scripts/chaos.py", *(argv or sys.argv[1:])]),
        "commit": git_commit(),
        "kills_per_type": args.kills,
        **result,
        "ok": ok,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print("all zero but the documented losses" if ok else "FAILED: see the figures above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
