"""What ingesting robot topics stores, as digests: for a speed change to the ingest path, run it
in both checkouts and compare (the output is the same bytes where the stored chunks and counts
are).

    (cd <checkout> && PYTHONPATH=$PWD python scripts/ingest_digests.py > /tmp/<name>.json)
    cmp /tmp/before.json /tmp/after.json

Bags (skill_embedding_ros/testing/bags.py, a noisy scripted controller): the push and reach
suites, each clean and damaged seven ways (messages dropped, repeated, swapped in log order,
made non-finite, of a wrong length, commanding 50 times the speed limit), each ingested with
two tolerances and two minimum segment lengths: 56 ingests. Per ingest: the exit code, the
records stored, a SHA-256 of every stored record (topic, log time, bytes), and the summary's
episodes, transitions, counts and first problems.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader

from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.bags.align import AlignConfig
from skill_embedding_ros.data.bags.ingest import IngestOptions, ingest
from skill_embedding_ros.data.store_chunks import scan_chunks
from skill_embedding_ros.tasks.point_mass.demos import reach_goal
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.testing.bags import robot_demos, robot_messages, write_messages

DAMAGE = ("clean", "drop", "repeat", "non_finite", "wide", "fast", "swap")


def _noisy(suite):
    scripted = reach_goal(suite, 0)

    def controller(obs, rng):
        return np.asarray(scripted(obs, rng)) + rng.normal(0, 0.3, suite.action_dim)

    return controller


def damaged(messages: list, kind: str, rng: np.random.Generator) -> list:
    """(topic, msgtype, log time, message) tuples with `kind` of damage done to a few."""
    out = []
    for topic, msgtype, log, msg in messages:
        r = rng.random()
        if kind == "drop" and r < 0.05:
            continue
        if kind == "repeat" and r < 0.05:
            out.append((topic, msgtype, log, msg))
        if kind in ("non_finite", "wide", "fast"):
            msg = copy.deepcopy(msg)
        if kind == "non_finite" and r < 0.02:
            if msgtype.endswith("JointState"):
                msg.position[0] = np.nan
            elif msgtype.endswith("MultiArray"):
                msg.data[-1] = np.inf
            else:
                msg.pose.position.x = np.nan
        if msgtype.endswith("MultiArray"):
            if kind == "wide" and r < 0.03:
                msg.data = np.append(msg.data, 0.5)
            if kind == "fast" and r < 0.3:
                msg.data = msg.data * 50
        out.append((topic, msgtype, log, msg))
    if kind == "swap":  # every 37th pair exchanged, log times kept in place
        for i in range(5, len(out) - 1, 37):
            (ta, ma, la, a), (tb, mb, lb, b) = out[i], out[i + 1]
            out[i], out[i + 1] = (tb, mb, la, b), (ta, ma, lb, a)
    return out


def stored_digest(store: Path) -> tuple[int, str]:
    """Records in the store's chunks, and a SHA-256 of each one's topic, log time and bytes."""
    digest, count = hashlib.sha256(), 0
    chunks, _ = scan_chunks(store)
    for chunk in chunks:
        with AnyReader([chunk.path], default_typestore=sr.typestore()) as reader:
            for connection, log_ns, data in reader.messages():
                digest.update(connection.topic.encode() + log_ns.to_bytes(8, "little"))
                digest.update(bytes(data))
                count += 1
    return count, digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=12, help="per suite")
    args = parser.parse_args()
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("push", "reach"):
            suite = get_suite(name)
            messages = robot_messages(suite, robot_demos(suite, args.episodes, _noisy(suite), 3))
            task = "any" if name == "push" else suite.tasks[1]
            for kind in DAMAGE:
                bag = Path(tmp) / f"{name}_{kind}"
                write_messages(bag, damaged(messages, kind, np.random.default_rng(7)))
                for tolerance in (None, 0.01):
                    for min_steps in (1, 5):
                        align = AlignConfig(
                            suite=suite,
                            tasks=tuple(suite.tasks),
                            z_dim=2,
                            task=task,
                            tolerance=tolerance,
                            min_steps=min_steps,
                        )
                        store = Path(tmp) / f"store_{kind}_{tolerance}_{min_steps}"
                        options = IngestOptions(kind="robot", align=align)
                        code, [summary] = ingest([bag], store, options, report=lambda s: None)
                        records, digest = stored_digest(store)
                        result[f"{name}/{kind}/{tolerance}/{min_steps}"] = {
                            "code": code,
                            "records": records,
                            "sha256": digest,
                            "episodes": summary.episodes,
                            "transitions": summary.transitions,
                            "counts": summary.counts,
                            "problems": summary.problems,
                        }
    print(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
