"""Where ingesting a bag of robot topics spends its time, stage by stage: reading the messages
(data/bags/reader.py over rosbags), the bag's digest, decoding them (robot_messages.py),
aligning them into episodes (align.py, with control/state_sync.py and the suite's observer),
laying the episodes out as records, writing the chunk; beside the whole ingest and a plain
`rosbags` read of the same bag (bench_ingest.py's ratio). Each stage runs alone over the
previous stage's output held in memory, the fastest of `--repeats`; what the whole costs above
their sum is the loop that joins them.

    python benchmarks/profile_ingest.py [--episodes 1000] [--repeats 5]

The bag is bench_ingest.py's: push-suite robot topics of a scripted controller.
"""

from __future__ import annotations

import argparse
import hashlib
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import plain_read, robot_bag, robot_options, timed_ingest

from skill_embedding_ros.data.bags.align import RobotAligner
from skill_embedding_ros.data.bags.ingest import RobotPipeline
from skill_embedding_ros.data.bags.reader import BagFile
from skill_embedding_ros.data.store_writer import StoreWriter


def fastest(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=1000, help="push episodes in the bag")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    options = robot_options()
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp) / "bag"
        robot_bag(bag, args.episodes)
        with BagFile(bag) as opened:
            pipeline = RobotPipeline(opened, options.align, None)
            topics = opened.topics
            raw = list(opened.messages(pipeline.topics))
        decoded = [(t, ns, pipeline.decode[t](data)) for t, ns, data in raw]
        aligned = []

        def read():
            with BagFile(bag) as opened:
                for _ in opened.messages(pipeline.topics):
                    pass

        def digest():
            h, stamp = hashlib.blake2b(digest_size=16), struct.Struct("<q")
            for t, ns, data in raw:
                h.update(b"".join((t.encode(), stamp.pack(ns), data)))

        def decode():
            for t, _, data in raw:
                pipeline.decode[t](data)

        def align():
            aligner = RobotAligner(topics, options.align)
            out = [e for t, ns, msg in decoded for e in aligner.feed(t, ns, msg)]
            aligned[:] = out + aligner.finish()

        align()
        records = pipeline._records(aligned)

        def write():
            writer = StoreWriter(Path(tmp) / "store")
            chunk = writer.new_chunk(ingested="robot", source_bag=str(bag))
            for episode in records:
                chunk.add_episode(episode)
            chunk.discard()
            writer.close()

        stages = {
            "read (BagFile.messages)": read,
            "digest": digest,
            "decode": decode,
            "align": align,
            "records (episode_cdr)": lambda: pipeline._records(aligned),
            "write (chunk)": write,
        }
        seconds = {name: fastest(fn, args.repeats) for name, fn in stages.items()}
        whole = fastest(lambda: timed_ingest(bag, options), args.repeats)
        plain = fastest(lambda: plain_read(bag), args.repeats)
    steps = sum(len(e.episode.action) for e in aligned)
    print(f"{len(raw)} messages, {steps} control steps; seconds, fastest of {args.repeats}:")
    for name, s in seconds.items():
        print(f"  {name:<26} {s:6.3f}  {s / whole:5.1%}  {s / steps * 1e6:5.1f} µs/step")
    joined = whole - sum(seconds.values())
    print(f"  {'the loop joining them':<26} {joined:6.3f}  {joined / whole:5.1%}")
    print(f"  {'whole ingest':<26} {whole:6.3f}  ({whole / plain:.2f} x the plain read)")
    print(f"  {'plain rosbags read':<26} {plain:6.3f}")


if __name__ == "__main__":
    main()
