"""Does a learner trained from ingested demonstrations alone learn something? (docs/rosbags.md)

A noisy scripted controller drives the reach suite's point mass to goal region 1; its robot
topics (joint_states, commands, as a lockstep graph shows them) go into a rosbag, the bag is
ingested into an empty store (`robot` alignment: rewards recomputed, log b = NaN, z = 0), and a
learner trains from that store only, never acting. Reported: the success rate and return of its
policy (mean actions, 100 episodes from fresh starts) beside the same networks untrained and the
demonstrator itself, with z = 0 (the demonstrations' z) and with z ~ p(z|t).

    python scripts/learn_from_bags.py --out results/learn_from_bags.json [--updates 4000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]

from skill_embedding_ros.agent.actor import act  # noqa: E402
from skill_embedding_ros.agent.learner import Learner  # noqa: E402
from skill_embedding_ros.agent.run_networks import build_networks  # noqa: E402
from skill_embedding_ros.data.bags.align import AlignConfig  # noqa: E402
from skill_embedding_ros.data.bags.ingest import IngestOptions, ingest  # noqa: E402
from skill_embedding_ros.data.replay import ReplayBuffer  # noqa: E402
from skill_embedding_ros.data.replay_store import StoreReader  # noqa: E402
from skill_embedding_ros.provenance import git_commit  # noqa: E402
from skill_embedding_ros.settings.run import add_set_option, load_run_config  # noqa: E402
from skill_embedding_ros.tasks.env import SuiteEnv  # noqa: E402
from skill_embedding_ros.tasks.point_mass.demos import reach_goal  # noqa: E402
from skill_embedding_ros.tasks.registry import get_suite  # noqa: E402
from skill_embedding_ros.testing.bags import robot_demos, robot_messages, write_messages  # noqa: E402
from skill_embedding_ros.training.evaluate import rollout_task  # noqa: E402
from skill_embedding_ros.training.trainer import hold_steps, replay_update  # noqa: E402

TASK = "goal_1"


def rollout_fixed_z(nets, suite, tasks, episodes: int, seed: int) -> dict:
    """Mean actions with z = 0 (the z every demonstration was stored with)."""
    envs = [SuiteEnv(suite, tasks, seed=seed + i) for i in range(episodes)]
    obs = np.stack([e.reset(options={"task": 0})[0] for e in envs])
    z = np.zeros((episodes, nets.latent.z_dim), np.float32)
    returns = np.zeros(episodes)
    for _ in range(suite.episode_steps):
        actions, _ = act(nets.policy, obs, z, deterministic=True)
        steps = [e.step(a) for e, a in zip(envs, actions, strict=True)]
        obs = np.stack([s[0] for s in steps])
        returns += [s[1] for s in steps]
    return {"success_rate": float(np.mean(returns > 0)), "mean_return": float(returns.mean())}


def rollout_prior_z(nets, suite, tasks, episodes: int, seed: int) -> dict:
    r = rollout_task(nets, suite, tasks, 0, episodes, seed)
    return {"success_rate": float(np.mean(r.returns > 0)), "mean_return": float(r.returns.mean())}


def evaluate(nets, suite, tasks, episodes: int) -> dict:
    with torch.no_grad():
        return {
            "z_zero": rollout_fixed_z(nets, suite, tasks, episodes, 777),
            "z_from_embedding": rollout_prior_z(nets, suite, tasks, episodes, 777),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="results/learn_from_bags.json")
    parser.add_argument("--demos", type=int, default=60, help="demonstration episodes")
    parser.add_argument("--noise", type=float, default=0.3, help="demonstrator's action noise")
    parser.add_argument("--updates", type=int, default=4000, help="learner updates")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes")
    parser.add_argument("--seed", type=int, default=0)
    add_set_option(parser)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    overrides = (f"train.tasks=[{TASK}]", "train.warmup_steps=0", *args.set)
    cfg = load_run_config("reach_gaussian.yaml", overrides, args.seed)
    suite = get_suite(cfg.train.suite)
    tasks = list(cfg.train.tasks)
    started = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        demos = robot_demos(
            suite, args.demos, reach_goal(suite, 1, noise=args.noise), seed=args.seed + 1
        )
        bag = Path(tmp) / "teleop_bag"
        write_messages(bag, robot_messages(suite, demos))
        align = AlignConfig(suite=suite, tasks=tuple(tasks), z_dim=cfg.agent.z_dim, task=TASK)
        code, [summary] = ingest(
            [bag],
            Path(tmp) / "store",
            IngestOptions(kind="robot", align=align),
            report=lambda s: print(s.text()),
        )
        if code != 0:
            raise SystemExit(summary.text())
        episodes = StoreReader(Path(tmp) / "store").new_episodes()
    demo_returns = np.array([e.reward.sum() for e in episodes])

    nets = build_networks(cfg)
    untrained = evaluate(nets, suite, tasks, args.episodes)
    replay = ReplayBuffer(cfg.replay.capacity, suite.obs_dim, suite.action_dim, cfg.agent.z_dim)
    for episode in episodes:
        replay.add(episode)
    learner = Learner(nets, hold_steps(cfg))
    rng = np.random.default_rng(args.seed)
    curve = []
    for update in range(1, args.updates + 1):
        metrics = replay_update(learner, replay, cfg, rng)
        if update % max(1, args.updates // 4) == 0:
            row = {"updates": update, **evaluate(nets, suite, tasks, args.episodes // 2)}
            row["trace_c"] = metrics["values/trace_c"]
            row["q"] = metrics["values/q"]
            curve.append(row)
            print(json.dumps(row), flush=True)
    trained = evaluate(nets, suite, tasks, args.episodes)
    commit = git_commit()
    result = {
        "command": "python scripts/learn_from_bags.py " + " ".join(sys.argv[1:]),
        "commit": commit,
        "task": f"{suite.name} {TASK}",
        "demonstrations": {
            "episodes": len(episodes),
            "transitions": int(sum(len(e) for e in episodes)),
            "success_rate": float(np.mean(demo_returns > 0)),
            "mean_return": float(demo_returns.mean()),
            "action_noise": args.noise,
        },
        "untrained": untrained,
        "trained_from_bag": trained,
        "curve": curve,
        "updates": args.updates,
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "config": f"reach_gaussian.yaml with {list(overrides)}",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("demonstrations", "untrained", "trained_from_bag")}))


if __name__ == "__main__":
    main()
