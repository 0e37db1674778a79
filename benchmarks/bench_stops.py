"""Safety figures on an emulated arm: how soon the arm is told to stop after the operator lets go
of the deadman, after the policy falls silent, and after the arm's joint states stop coming.

    python benchmarks/bench_stops.py --out benchmarks/results_stops.json        # 100 of each
    python benchmarks/bench_stops.py --trials 3 --out /tmp/stops.json           # a smoke run

Real processes over DDS, as deploy_emulated runs them: the hardware emulator (joint states at
500 Hz in the vendor's names, 2 ms latency, 1 ms jitter, 1 % of messages dropped), the arm
driver and the safety gate (teleop with the deadman on) in namespace /arm. This process plays
the policy (a command per control period, stamped with the state it answers, joint_1 moving
back and forth) and the operator (Joy at 50 Hz, the deadman held), and listens where the arm
does: the velocity controller's commands. A stop counts from the event (the release published,
the last policy command published, the last joint state received) to the first all-zero command
on the controller after which no motion is commanded; the promise is two control periods.
Stale joint states are made by the emulator's `~/stall` service: its joint states stop while
the arm goes on under its last command, as with a hung joint_state_broadcaster.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool

from skill_embedding_ros.control.teleop import load_mapping
from skill_embedding_ros.provenance import git_commit, machine
from skill_embedding_ros.robots.ros2_control import JOINT_STATES, commands_topic, load_robot
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.processes import Probe, fresh_domain, graph_params, start_node, stop
from skill_embedding_ros.tasks.registry import get_suite

LINK = {"rate": 500.0, "latency": 0.002, "jitter": 0.001, "drop": 0.01}
ROBOT = load_robot("jaco")
PERIOD = get_suite(ROBOT.suite).control_period
PAD = load_mapping("xbox")
SPEED = 0.05  # rad/s on joint_1: small, and reversed each trial, so the arm stays near home


class Bench:
    def __init__(self, tmp: Path):
        self.domain = fresh_domain()
        self.emulator = start_node("arm_emulator", self.domain, tmp, params=LINK)
        self.driver = start_node("arm_driver", self.domain, tmp, "arm", {"robot": "jaco"})
        gate = graph_params(
            "safety_gate", "deploy_emulated", estop_file="", teleop="xbox", deadman=True
        )
        self.gate = start_node("safety_gate", self.domain, tmp, "arm", gate)
        self.probe = Probe(self.domain)
        node = self.probe.node
        self.commands: list[tuple[float, bool]] = []  # (received, all zero)
        self.state_at = 0.0  # when the latest vendor joint state came
        self.stamp = None  # the latest graph-side joint state's stamp
        node.create_subscription(
            Float64MultiArray, commands_topic(ROBOT.velocity.name),
            lambda m: self.commands.append((time.monotonic(), not np.any(m.data))),
            topics.RELIABLE,
        )  # fmt: skip
        node.create_subscription(
            JointState, JOINT_STATES, lambda m: setattr(self, "state_at", time.monotonic()),
            topics.RELIABLE,
        )  # fmt: skip
        node.create_subscription(
            JointState, "/arm/" + topics.JOINT_STATES,
            lambda m: setattr(self, "stamp", m.header.stamp), topics.RELIABLE,
        )  # fmt: skip
        self.joy = node.create_publisher(Joy, topics.JOY, topics.RELIABLE)
        self.policy = node.create_publisher(
            JointState, "/arm/" + topics.POLICY_COMMAND, topics.RELIABLE
        )
        self.stall = node.create_client(SetBool, "/arm_emulator/stall")
        self.deadman, self.talking, self.speed = True, True, SPEED
        node.create_timer(0.02, self._joy)
        node.create_timer(PERIOD, self._command)
        self.probe.spin_until(lambda: self.stamp is not None, 60.0, "the driver's joint states")

    def _joy(self) -> None:
        buttons = [0] * 11
        buttons[PAD.buttons["deadman"]] = int(self.deadman)
        self.joy.publish(Joy(buttons=buttons, axes=[0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0]))

    def _command(self) -> None:
        if not self.talking or self.stamp is None:
            return
        joints = list(ROBOT.joints)
        msg = JointState(name=joints, velocity=[self.speed] + [0.0] * (len(joints) - 1))
        msg.header.stamp = self.stamp
        self.policy.publish(msg)
        self.last_command = time.monotonic()

    def moving(self, timeout: float = 5.0) -> None:
        """Until the arm is commanded to move (every condition restored)."""
        self.speed = -self.speed
        self.commands.clear()
        self.probe.spin_until(
            lambda: any(not zero for _, zero in self.commands), timeout, "motion commanded"
        )
        self.probe.spin_for(2 * PERIOD)

    def stopped_after(self, since: float) -> float:
        """Seconds from `since` to the first zero command after which none moves."""
        self.probe.spin_until(
            lambda: any(t > since and zero for t, zero in self.commands), 5.0, "a stop"
        )
        self.probe.spin_for(3 * PERIOD)  # anything moving after the stop would show now
        after = [(t, zero) for t, zero in self.commands if t > since]
        last_motion = max((t for t, zero in after if not zero), default=since)
        return min(t for t, zero in after if zero and t >= last_motion) - since

    def deadman_release(self) -> float:
        self.deadman = True
        self.moving()
        self.deadman, released = False, time.monotonic()
        return self.stopped_after(released)

    def policy_silence(self) -> float:
        self.deadman = self.talking = True
        self.moving()
        self.talking = False
        self.probe.spin_for(0.001)
        delay = self.stopped_after(self.last_command)
        self.talking = True
        return delay

    def stale_states(self) -> float:
        self.deadman = self.talking = True
        self.moving()
        self._stall(True)
        try:
            self.probe.spin_for(0.05)
            return self.stopped_after(self.state_at)
        finally:
            self._stall(False)

    def _stall(self, on: bool) -> None:
        future = self.stall.call_async(SetBool.Request(data=on))
        self.probe.spin_until(future.done, 5.0, "the emulator's stall service")

    def close(self) -> list[int]:
        self.probe.close()
        return [stop(p) for p in (self.gate, self.driver, self.emulator)]


def figures(delays: list[float]) -> dict:
    ms = np.array(delays) * 1e3
    return {
        "trials": len(ms),
        "within_two_periods": int((ms <= 2 * PERIOD * 1e3).sum()),
        "p50_ms": round(float(np.median(ms)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100, help="of each kind of stop")
    parser.add_argument("--out", required=True, help="results JSON")
    args = parser.parse_args()
    bench = Bench(Path(tempfile.mkdtemp(prefix="bench_stops_")))
    results = {}
    try:
        for kind in ("deadman_release", "policy_silence", "stale_states"):
            delays = [getattr(bench, kind)() for _ in range(args.trials)]
            results[kind] = figures(delays)
            print(kind, results[kind], flush=True)
    finally:
        codes = bench.close()
    out = {
        "command": "python " + shlex.join(["benchmarks/bench_stops.py", *sys.argv[1:]]),
        "commit": git_commit(),
        "machine": machine(),
        "link": {**LINK, "robot": "jaco", "control_period_s": PERIOD},
        "promise_ms": 2 * PERIOD * 1e3,
        **results,
        "exit_codes": codes,
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(c == 0 for c in codes) else 1


if __name__ == "__main__":
    sys.exit(main())
