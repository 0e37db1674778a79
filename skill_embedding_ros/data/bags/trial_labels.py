"""Trial labels in bags: the trial manager's `trial_label` topic (std_msgs/String,
`trial=<k> episode=<n> label=<success|failure|abort>`, topic_names.TRIAL_LABEL) read back into
{(namespace, episode): label}, the key a per-step record's source and episode give.

`skill-embedding ingest` keeps them (docs/rosbags.md): a record bag's pipeline is wrapped by
`LabelledPipeline`, which reads the label topics in the same pass, writes the labels of the
stored episodes into the chunk's metadata (custom_data `trial_labels`, JSON) and reports them in
the summary. Aborted trials are stored like the others (their steps are real robot data) but
counted apart. Labels name the policy's episode counter, so they apply to record bags only (a
robot-topic bag's episodes are cut by the aligner and numbered anew).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from skill_embedding_ros.control.trials import LABELS
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.bags.reader import BagFile
from skill_embedding_ros.topic_names import TRIAL_LABEL

MSGTYPE = "std_msgs/msg/String"
CUSTOM_KEY = "trial_labels"
"""custom_data key of a chunk: JSON [[namespace, episode, label], ...] of its labelled episodes."""
_TEXT = re.compile(r"trial=(\d+) episode=(-?\d+) label=(\w+)")


def is_label_topic(topic: str, msgtype: str) -> bool:
    """Whether a topic carries trial labels: named .../trial_label, of type std_msgs/String."""
    return topic.rsplit("/", 1)[-1] == TRIAL_LABEL and msgtype == MSGTYPE


def namespace_of(topic: str) -> str:
    """/actor_0/trial_label -> /actor_0 (the records' source: data/store_chunks.py source_of)."""
    return topic.rsplit("/", 1)[0] or "/"


def parse(text: str) -> tuple[int, int, str]:
    """(trial, episode, label) of a label message; ValueError saying what is wrong."""
    match = _TEXT.fullmatch(text.strip())
    if match is None or match[3] not in LABELS:
        raise ValueError(
            f"not a trial label: {text!r} (expected 'trial=<k> episode=<n> label=<"
            + "|".join(LABELS)
            + ">')"
        )
    return int(match[1]), int(match[2]), match[3]


class LabelReader:
    """Label messages (CDR bytes) -> {(namespace, episode): label}; a later label of the same
    episode replaces an earlier one (counted as `relabelled`), malformed ones are counted."""

    def __init__(self, bag_topics: dict[str, str]):
        self.topics = sorted(t for t, m in bag_topics.items() if is_label_topic(t, m))
        self.labels: dict[tuple[str, int], str] = {}
        self.counts: Counter[str] = Counter()
        self.problem = ""

    def feed(self, topic: str, data: bytes) -> None:
        self.counts["label_messages"] += 1
        try:
            text = sr.typestore().deserialize_cdr(data, MSGTYPE).data
            _, episode, label = parse(text)
        except Exception as err:  # rosbags raises many kinds on garbled bytes
            self.counts["labels_malformed"] += 1
            self.problem = self.problem or f"{topic}: {err}"
            return
        if episode < 0:
            self.counts["labels_without_episode"] += 1  # no record of that trial arrived
            return
        key = (namespace_of(topic), episode)
        self.counts["labels_relabelled"] += key in self.labels
        self.labels[key] = label


def read_labels(path: Path | str) -> dict[tuple[str, int], str]:
    """{(namespace, episode): label} of every trial_label topic in a bag (BagError if the bag
    cannot be read)."""
    with BagFile(path) as bag:
        reader = LabelReader(bag.topics)
        for topic, _, data in bag.messages(reader.topics):
            reader.feed(topic, data)
    return reader.labels


class LabelledPipeline:
    """A record pipeline (data/bags/ingest.py) that also reads the bag's label topics, notes
    which stored episode each label names, and reports them (BagSummary.trials, the chunk's
    custom_data)."""

    def __init__(self, inner, bag_topics: dict[str, str]):
        self.inner, self.kind = inner, inner.kind
        self.labels = LabelReader(bag_topics)
        self.topics = list(inner.topics) + self.labels.topics
        self.stored: list[tuple[tuple[str, int], int]] = []  # (key, transitions) per episode

    def feed(self, topic: str, log_ns: int, data: bytes):
        if topic in self.labels.topics:
            self.labels.feed(topic, data)
            return []
        done = self.inner.feed(topic, log_ns, data)
        for records in done:
            last = sr.decode_cdr(records[-1].data, namespace_of(records[-1].topic))
            self.stored.append(((last.source, last.episode), len(records) - 1))
        return done

    def finish(self):
        return self.inner.finish()

    def summarize(self, summary, builder) -> None:
        self.inner.summarize(summary, builder)
        summary.dropped -= self.labels.counts["label_messages"]  # read, not records
        summary.counts.update({k: v for k, v in self.labels.counts.items() if v})
        if self.labels.problem:
            summary.problems.setdefault("labels_malformed", self.labels.problem)
        if not self.labels.topics:
            return
        labels = self.labels.labels
        kept = [(key, n, labels[key]) for key, n in self.stored if key in labels]
        builder.set_custom_data(
            CUSTOM_KEY, json.dumps([[ns, ep, label] for (ns, ep), _, label in kept])
        )
        summary.trials = describe(kept, len(labels), len(self.stored))

    def __getattr__(self, name):
        return getattr(self.inner, name)


def describe(kept: list[tuple[tuple[str, int], int, str]], labels: int, episodes: int) -> str:
    """The summary line: labelled episodes stored by label, aborted ones counted apart."""
    by = Counter(label for _, _, label in kept)
    aborted = [n for _, n, label in kept if label == "abort"]
    text = (
        f"{labels} labelled, {len(kept)} of them among the {episodes} stored episodes: "
        f"success {by['success']}, failure {by['failure']}"
    )
    return text + (
        f"; abort {len(aborted)} (stored, {sum(aborted)} transitions, counted apart: "
        "the steps are real robot data, the outcome is not judged)"
    )
