"""Where one actor node spends its time in a lockstep evaluation: cProfile of the sim bridge,
the safety gate or the skill policy (the other two run plain) over N episodes of an untrained
point-mass policy, top functions by their own time.

    python benchmarks/profile_node.py safety_gate [--episodes 60] [--top 15]
    python benchmarks/profile_node.py skill_policy --sort cumulative --only skill_embedding_ros

Each node is its own process over real DDS on a fresh ROS_DOMAIN_ID, started by the launcher's
own command line (`node_command`), with the train_sim / evaluate_sim graphs' parameters.
"""

from __future__ import annotations

import argparse
import pstats
import subprocess
import tempfile
import time
from pathlib import Path

from skill_embedding_ros.launch.graph import NodeSpec
from skill_embedding_ros.launch.launcher import node_command
from skill_embedding_ros.ros.processes import REPO, fresh_domain, graph_params, ros_env, stop
from skill_embedding_ros.testing.checkpoints import untrained_checkpoint

NODES = ("sim_bridge", "safety_gate", "skill_policy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("node", choices=NODES)
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument(
        "--sort", default="tottime", choices=("tottime", "cumulative"),
        help="own time per function, or time including what it calls",
    )  # fmt: skip
    parser.add_argument("--only", default="", help="list only functions whose path matches")
    args = parser.parse_args()
    domain = fresh_domain()
    with tempfile.TemporaryDirectory(prefix="profile_node_") as tmp:
        work = Path(tmp)
        checkpoint = untrained_checkpoint("reach_bernoulli.yaml", work / "reach.safetensors")
        params = {
            "sim_bridge": graph_params("sim_bridge"),
            "safety_gate": graph_params("safety_gate"),
            "skill_policy": graph_params(
                "skill_policy", "evaluate_sim", checkpoint=str(checkpoint), episodes=args.episodes
            ),
        }
        profile = work / f"{args.node}.prof"
        procs = {}
        for name in NODES:
            cmd = node_command(NodeSpec(name, name, "actor_0", params[name]))
            if name == args.node:  # python -m cProfile -o FILE -m <module> --ros-args ...
                cmd = [cmd[0], "-m", "cProfile", "-o", str(profile), *cmd[1:]]
            log = open(work / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
            procs[name] = subprocess.Popen(
                cmd, env=ros_env(domain), cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            )
        start = time.monotonic()
        code = procs["skill_policy"].wait(600)
        seconds = time.monotonic() - start
        for name in ("safety_gate", "sim_bridge"):
            stop(procs[name])
        if code != 0 or not profile.exists():
            raise SystemExit(f"the run failed (policy exit {code}): see {work}")
        steps = args.episodes * 50  # the point mass's episode
        print(f"{args.episodes} episodes ({steps} steps) in {seconds:.1f} s, with startup")
        # Over the process's whole life: imports, start-up and waiting in rcl's wait included;
        # divide a function's time by the steps for its cost per step.
        what = "its own time" if args.sort == "tottime" else "time with callees"
        print(f"{args.node}, {what} per function (s; per step: / {steps}):")
        limits = [args.only, args.top] if args.only else [args.top]
        pstats.Stats(str(profile)).sort_stats(args.sort).print_stats(*limits)


if __name__ == "__main__":
    main()
