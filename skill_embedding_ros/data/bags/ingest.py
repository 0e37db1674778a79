"""Bags -> the replay store: `skill-embedding ingest BAG... --into STORE` (docs/rosbags.md).

A bag of per-step record topics is read with the live recorder's own code (`decode_cdr`, the
`EpisodeCollector` of data/replay_store.py), so it yields exactly the episodes the recorder
would have stored. A bag of robot topics only is aligned into transitions (data/bags/align.py)
and written as the records a policy would have published for them (whole episodes, which the
chunk reads back into).

Each bag is all or nothing: its episodes stream into one new chunk under the store's
.incoming/, which lands with one rename only once the whole bag has been read; an error, an
interruption or a crash leaves the store as it was (.incoming/ is cleared on open). A chunk
remembers the digest of the bag's messages and the options that shaped it (`fingerprint`), so
ingesting the same bag twice stores it once, a re-ingest with other options is reported instead
of silently skipped, and `force` replaces the bag's earlier chunks in the same step as the new
one lands. Memory stays bounded: messages are streamed, and only open episodes are held.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.assembly import episode_cdr
from skill_embedding_ros.data.bags.align import (
    AlignConfig,
    AlignedEpisode,
    RobotAligner,
    label_episodes,
)
from skill_embedding_ros.data.bags.fingerprint import (
    DIGEST_KEY,
    OPTIONS_KEY,
    earlier_verdict,
    ingest_fingerprint,
)
from skill_embedding_ros.data.bags.reader import BagError, BagFile
from skill_embedding_ros.data.bags.robot_messages import decoder
from skill_embedding_ros.data.bags.trial_labels import LabelledPipeline
from skill_embedding_ros.data.replay import Episode
from skill_embedding_ros.data.replay_store import (
    EpisodeCollector,
    RawRecord,
    StoreWriter,
    is_record_topic,
    source_of,
)
from skill_embedding_ros.topic_names import STEP_RECORDS

KINDS = ("auto", "records", "robot")
_TIME = struct.Struct("<q")


@dataclass
class IngestOptions:
    """How bags are ingested (the CLI maps its flags onto this)."""

    kind: str = "auto"
    """records: the per-step record topics; robot: align the robot topics; auto: records when
    the bag has any, else robot topics."""
    align: AlignConfig | None = None
    """Suite, tasks, task source, tolerance and remapping for robot topics."""
    label: Callable[[Episode], np.ndarray] | None = None
    """z of an aligned episode from its trajectory (q_psi of a checkpoint); None: z = 0."""
    label_source: str = ""
    """What `label` is (e.g. the checkpoint's digest): part of the fingerprint, so a re-ingest
    labelled by another checkpoint is told apart."""
    force: bool = False
    """Store a bag again even if a chunk already holds it, replacing that chunk (or chunks)."""


@dataclass
class BagSummary:
    """What ingesting one bag did (printed per bag; docs/rosbags.md explains each field)."""

    bag: str
    kind: str = ""
    status: str = ""
    """stored | already ingested | ingested with other options | nothing usable | unreadable"""
    chunk: str = ""
    replaced: list[str] = field(default_factory=list)
    """Chunks of the same bag that the new chunk replaced (force)."""
    messages_read: int = 0
    episodes: int = 0
    transitions: int = 0
    dropped: int = 0
    """Messages read that ended up in no stored episode (records) / states not stored (robot)."""
    unmatched: int = 0
    gaps: int = 0
    out_of_order: int = 0
    duplicates: int = 0
    non_finite: int = 0
    seconds: float = 0.0
    error: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    """Every counter of the decoder / aligner, by name."""
    problems: dict[str, str] = field(default_factory=dict)
    """The first example of each kind of problem."""
    trials: str = ""
    """Trial labels found (data/bags/trial_labels.py); "" when the bag has no label topic."""

    @property
    def ok(self) -> bool:
        return self.status in ("stored", "already ingested")

    def text(self) -> str:
        head = f"{self.bag}: {self.status}"
        if self.chunk:
            head += f" ({self.chunk}" + "".join(f", replacing {c}" for c in self.replaced) + ")"
        if self.error:
            head += f": {self.error}"
        if self.status == "unreadable" and not self.messages_read:
            return head
        lines = [
            head,
            f"  {self.kind or '-'}: {self.messages_read} messages read in {self.seconds:.1f} s; "
            f"{self.episodes} episodes, {self.transitions} transitions "
            + ("stored" if self.status == "stored" else "found, none stored"),
            f"  dropped {self.dropped}, unmatched {self.unmatched}, gaps {self.gaps}, "
            f"out of order {self.out_of_order}, duplicates {self.duplicates}, "
            f"non-finite {self.non_finite}",
        ]
        other = {k: v for k, v in sorted(self.counts.items()) if v}
        if other:
            lines.append("  counts: " + ", ".join(f"{k} {v}" for k, v in other.items()))
        lines += [f"  trials: {self.trials}"] if self.trials else []
        lines += [f"  {kind}: {text}" for kind, text in sorted(self.problems.items())]
        return "\n".join(lines)


def ingest_bag(
    path: Path | str, store: StoreWriter, options: IngestOptions, progress: bool = False
) -> BagSummary:
    """Ingest one bag into `store` as one new chunk, or leave the store untouched."""
    summary = BagSummary(str(path))
    start = time.perf_counter()
    builder = None
    try:
        with BagFile(path) as bag:
            pipeline = _pipeline(bag, options)
            summary.kind = pipeline.kind
            builder = store.new_chunk(ingested=pipeline.kind, source_bag=str(path))
            digest = hashlib.blake2b(digest_size=16)
            try:
                _stream(bag, pipeline, builder, digest, summary, progress)
            finally:
                pipeline.summarize(summary, builder)
        fingerprint = ingest_fingerprint(
            pipeline.kind, options.align, options.label is not None, options.label_source
        )
        earlier = store.chunks_of(DIGEST_KEY, digest.hexdigest())
        if builder.episodes == 0:
            summary.status = "nothing usable"
            summary.error = "no complete episode in the bag" + _why(summary)
        elif earlier and not options.force:
            summary.status, summary.chunk, summary.error = earlier_verdict(earlier, fingerprint)
        else:
            builder.set_custom_data(DIGEST_KEY, digest.hexdigest())
            builder.set_custom_data(OPTIONS_KEY, json.dumps(fingerprint, sort_keys=True))
            summary.replaced = [c.path.name for c in earlier]
            chunk = store.land(builder, replaces=summary.replaced)
            summary.status, summary.chunk = "stored", chunk.path.name
            builder = None  # landed: nothing left to discard
    except BagError as err:
        summary.status, summary.error = "unreadable", str(err)
    finally:
        if builder is not None:  # whatever did not land (also on an exception) leaves no trace
            builder.discard()
        summary.seconds = time.perf_counter() - start
    return summary


def _stream(bag, pipeline, builder, digest, summary, progress: bool) -> None:
    from tqdm import tqdm

    bar = tqdm(
        total=bag.count(pipeline.topics) or None,
        unit="msg",
        unit_scale=True,
        desc=Path(summary.bag).name,
        disable=not progress,
        leave=False,
    )
    batch, names = 0, {t: t.encode() for t in pipeline.topics}
    with bar:
        for topic, log_ns, data in bag.messages(pipeline.topics):
            digest.update(b"".join((names[topic], _TIME.pack(log_ns), data)))  # one call
            summary.messages_read += 1
            for records in pipeline.feed(topic, log_ns, data):
                builder.add_episode(records)
            batch += 1
            if batch == 4096:  # the bar costs more than a message per update
                bar.update(batch)
                batch = 0
        for records in pipeline.finish():
            builder.add_episode(records)
        bar.update(batch)


def _pipeline(bag: BagFile, options: IngestOptions):
    if options.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {options.kind!r}")
    topics = bag.topics
    records = [t for t, m in topics.items() if is_record_topic(t, m)]
    if options.kind == "records" or (options.kind == "auto" and records):
        if not records:
            wrong = [
                f"{t} ({m})" for t, m in topics.items() if t.rsplit("/", 1)[-1] == STEP_RECORDS
            ]
            raise BagError(
                f"no record topic (.../{STEP_RECORDS}, {sr.MSGTYPE}) in the bag"
                + (f"; wrong type: {', '.join(wrong)}" if wrong else "")
            )
        return LabelledPipeline(RecordPipeline(records), topics)
    if options.align is None:
        raise BagError("the bag has no record topics; robot topics need a suite and a task")
    return RobotPipeline(bag, options.align, options.label)


def _why(summary: BagSummary) -> str:
    reasons = {
        k: v
        for k, v in summary.counts.items()
        if v and k != "records" and not k.startswith("messages")
    }
    if summary.problems:
        return "; " + "; ".join(summary.problems.values())
    if reasons:
        return "; " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
    return "" if summary.messages_read else "; no messages on the topics read"


class RecordPipeline:
    """Per-step record topics -> the episodes the live recorder would have stored."""

    kind = "records"

    def __init__(self, topics: list[str]):
        self.topics = topics
        self.collector = EpisodeCollector()
        self.counts: Counter[str] = Counter()
        self.problems: dict[str, str] = {}
        self._last_stamp: dict[str, int] = {}

    def feed(self, topic: str, log_ns: int, data: bytes) -> list[list[RawRecord]]:
        try:
            record = sr.decode_cdr(data, source_of(topic))
        except ValueError as err:
            self._problem("malformed", f"{topic}: {err}")
            return []
        self._check(record)
        done = self.collector.add(record, RawRecord(topic, log_ns, data))
        return [] if done is None else [done[1]]

    def finish(self) -> list[list[RawRecord]]:
        self.collector.drop_in_flight()
        return []

    def _check(self, record: sr.StepRecord) -> None:
        """Count what the summary reports; the assembler alone decides what is stored."""
        last = self._last_stamp.get(record.source)
        if last is not None and record.stamp_ns < last:
            self.counts["out_of_order"] += 1
        elif last is not None and record.stamp_ns == last:
            self.counts["duplicates"] += 1
        self._last_stamp[record.source] = max(record.stamp_ns, last or record.stamp_ns)
        values = record.obs.tolist()  # Python floats: cheaper than numpy on ~10 values
        if not record.last:
            values += [*record.action.tolist(), *record.z.tolist(), record.reward]
        if not all(map(math.isfinite, values)):
            self._problem(
                "non_finite", f"{record.source} episode {record.episode} step {record.step}"
            )

    def _problem(self, kind: str, text: str) -> None:
        self.counts[kind] += 1
        self.problems.setdefault(kind, text)

    def summarize(self, summary: BagSummary, builder) -> None:
        counts = self.counts + self.collector.assembler.counts
        _fill(summary, builder, counts, self.problems)
        summary.dropped = summary.messages_read - builder.records
        summary.unmatched = counts["records_without_start"]
        summary.gaps = counts["episodes_with_gaps"]


class RobotPipeline:
    """Robot topics -> aligned episodes -> the records a policy would have published for them.
    Each aligned episode is complete, so its records are written as they are (no collector to
    reassemble them; test_bag_align reads the chunks back into the aligned episodes)."""

    kind = "robot"

    def __init__(self, bag: BagFile, cfg: AlignConfig, label):
        self.label = label
        self.aligner = RobotAligner(bag.topics, cfg)
        self.types = self.aligner.types
        self.topics = list(self.types)
        self.decode = {t: decoder(bag.typestore, m) for t, m in self.types.items()}
        self._ids: Counter[str] = Counter()

    def feed(self, topic: str, log_ns: int, data: bytes) -> list[list[RawRecord]]:
        try:
            msg = self.decode[topic](data)
        except ValueError as err:
            self.aligner.counts["malformed"] += 1
            self.aligner.problems.setdefault("malformed", f"{topic}: {err}")
            return []
        aligned = self.aligner.feed(topic, log_ns, msg)
        return self._records(aligned) if aligned else []  # most messages end no episode

    def finish(self) -> list[list[RawRecord]]:
        return self._records(self.aligner.finish())

    def _records(self, aligned: list[AlignedEpisode]) -> list[list[RawRecord]]:
        label_episodes(aligned, self.label)
        out = []
        for item in aligned:
            topic = f"{item.source.rstrip('/')}/{STEP_RECORDS}"
            ident = self._ids[item.source]
            self._ids[item.source] += 1
            encoded = episode_cdr(item.episode, ident, item.stamps_ns, demonstration=True)
            out.append(
                [
                    RawRecord(topic, log_ns, data)
                    for log_ns, data in zip(item.log_ns.tolist(), encoded, strict=True)
                ]
            )
        return out

    def summarize(self, summary: BagSummary, builder) -> None:
        counts = self.aligner.counts
        _fill(summary, builder, counts, self.aligner.problems)
        summary.dropped = (
            counts["duplicates"]
            + counts["out_of_order"]
            + counts["states_unmatched"]
            + counts["missing_joints"]
            + counts["no_task"]
            + counts["unknown_task"]
            + counts["malformed"]
            + counts["non_finite"]
        )
        summary.unmatched = (
            counts["states_unmatched"]
            + counts["commands_unmatched"]
            + counts["steps_without_command"]
        )
        summary.gaps = counts["gaps"]


def _fill(summary: BagSummary, builder, counts: Counter, problems: dict[str, str]) -> None:
    """What both pipelines report alike: the chunk's episodes and transitions, and the counts."""
    summary.counts, summary.problems = dict(counts), dict(problems)
    summary.episodes = builder.episodes
    summary.transitions = builder.records - builder.episodes
    summary.out_of_order = counts["out_of_order"]
    summary.duplicates = counts["duplicates"]
    summary.non_finite = counts["non_finite"]


def ingest(
    bags: list[Path | str],
    store: Path | str,
    options: IngestOptions,
    progress: bool = False,
    report: Callable[[BagSummary], None] = lambda s: print(s.text()),
    warn: Callable[[str], None] = lambda m: print(f"warning: {m}", file=sys.stderr),
) -> tuple[int, list[BagSummary]]:
    """Ingest each bag into the store (each all or nothing); returns (exit code, summaries):
    0 when every bag was stored (or already was), 1 when some bag left nothing usable or was
    ingested before with other options. RuntimeError if another writer (a running recorder)
    holds the store. Entries of the store that are not readable chunks are skipped, each with
    one `warn` line."""
    writer = StoreWriter(store)
    for line in writer.skipped:
        warn(line)
    summaries = []
    try:
        for bag in bags:
            summary = ingest_bag(bag, writer, options, progress)
            summaries.append(summary)
            report(summary)
    finally:
        writer.close()
    return (0 if all(s.ok for s in summaries) else 1), summaries
