"""How many of a replay store's steps carry someone else's command (the intervention flag: the
safety gate's stops, an operator's takeover; agent/actor.py `settle`), in all and by step index.

    python scripts/store_interventions.py RUN_DIR/store [--steps 15]

A real-time graph whose gate stops the robot shows here: those steps train the critic but not as
the policy's own actions (docs/safety.md, "Timing").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from skill_embedding_ros.data.store_reader import StoreReader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="a replay store directory")
    parser.add_argument("--steps", type=int, default=15, help="step indices listed")
    args = parser.parse_args()
    if not args.store.is_dir():
        raise SystemExit(f"error: {args.store} is not a directory (a run's is RUN_DIR/store)")
    reader = StoreReader(args.store)
    episodes = reader.new_episodes()
    for entry in reader.unreadable:
        print(f"skipped {entry}")
    if not episodes:
        raise SystemExit(f"error: no episodes in {args.store}")
    flags = [np.asarray(e.intervention, bool) for e in episodes]
    by_step = np.zeros(max(len(f) for f in flags), int)
    for f in flags:
        by_step[: len(f)] += f
    steps, taken = sum(len(f) for f in flags), int(by_step.sum())
    print(
        f"{len(episodes)} episodes, {steps} steps, {taken} interventions ({taken / steps:.1%}); "
        f"episodes with one: {sum(bool(f.any()) for f in flags)}"
    )
    print(f"by step index (first {args.steps}): {by_step[: args.steps].tolist()}")


if __name__ == "__main__":
    main()
