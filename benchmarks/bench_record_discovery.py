"""How soon `skill-embedding record` with a topic pattern subscribes to a topic that appears
after it started: from creating the publisher to the publisher seeing the match.

    python benchmarks/bench_record_discovery.py                    # this checkout
    python benchmarks/bench_record_discovery.py --repo /tmp/old    # another checkout's code

Two cases: `known` (a new topic of a process the recorder has already discovered: DDS endpoint
discovery plus the recorder's scan) and `new process` (the topic's process starts after the
recorder, as when a graph starts later: DDS participant discovery too). Delays between trials
step through the scan period, so no trial is in phase with it.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from std_msgs.msg import Float64MultiArray

from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.processes import Probe, fresh_domain, ros_env

LATE = """
import sys, time, rclpy
from std_msgs.msg import Float64MultiArray
from skill_embedding_ros.ros import topics
rclpy.init()
node = rclpy.create_node("late")
start = time.monotonic()
pub = node.create_publisher(Float64MultiArray, sys.argv[1], topics.RECORDS)
while pub.get_subscription_count() == 0 and time.monotonic() < start + 30:
    rclpy.spin_once(node, timeout_sec=0.01)
print(time.monotonic() - start, flush=True)
"""


def _summary(delays: list[float]) -> dict:
    return {
        "median_s": round(statistics.median(delays), 3),
        "max_s": round(max(delays), 3),
        "delays_s": [round(d, 3) for d in delays],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--repo", default=str(Path(__file__).resolve().parents[1]))
    args = parser.parse_args()
    domain = fresh_domain()
    env = ros_env(domain)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "record.log"
        cmd = [sys.executable, "-m", "skill_embedding_ros.cli", "record", f"{tmp}/bag"]
        with open(log, "wb") as out:
            recorder = subprocess.Popen(
                [*cmd, "/actor_*/step_records"], env=env, stdout=out, stderr=out, cwd=args.repo
            )
        probe = Probe(domain)
        try:
            probe.spin_until(lambda: "recording [" in log.read_text(), 60, "the recorder")
            probe.spin_for(3.0)
            known, new = [], []
            for trial in range(args.trials):
                start = time.monotonic()
                topic = f"/actor_{trial}/{topics.STEP_RECORDS}"
                pub = probe.node.create_publisher(Float64MultiArray, topic, topics.RECORDS)
                probe.spin_until(lambda p=pub: p.get_subscription_count() > 0, 30, "a match")
                known.append(time.monotonic() - start)
                probe.spin_for(0.2 + (trial * 0.618) % 1.0)
            for trial in range(args.trials // 2):
                topic = f"/actor_{100 + trial}/{topics.STEP_RECORDS}"
                done = subprocess.run(
                    [sys.executable, "-c", LATE, topic],
                    env=env,
                    cwd=args.repo,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                new.append(float(done.stdout.split()[-1]))
        finally:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(30)
            probe.close()
    result = {
        "command": "python " + " ".join(sys.argv),
        "known_process": _summary(known),
        "new_process": _summary(new),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
