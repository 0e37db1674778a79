"""What makes an ingested bag's chunk what it is: the bag's bytes AND the options that shaped
it. Bag ingestion (data/bags/ingest.py) records both in the chunk's custom_data, and decides
from them what a re-ingest does: nothing (same options), a refusal that says what changed
(other options), or, with --force, a replacement of the earlier chunks (docs/rosbags.md)."""

from __future__ import annotations

import json

from skill_embedding_ros.data.bags.align import AlignConfig
from skill_embedding_ros.data.store_chunks import ChunkInfo
from skill_embedding_ros.data.store_writer import SOURCE_KEY

DIGEST_KEY = SOURCE_KEY
"""custom_data key of an ingested chunk: BLAKE2b of the bag's messages (topic, log time, bytes)."""
OPTIONS_KEY = "ingest_options"
"""custom_data key of an ingested chunk: its fingerprint (`ingest_fingerprint`) as JSON."""


def ingest_fingerprint(
    kind: str, align: AlignConfig | None, labelled: bool, label_source: str
) -> dict:
    """Everything besides the bag's bytes that decides what its chunk holds, as plain values:
    a record bag is stored as it is (kind alone), a robot bag depends on the whole alignment
    (suite, tasks, z size, task source, tolerance as resolved, minimum length, remapping,
    namespace) and on what labels z. Resolved values, not file names, so the same options
    reached another way (a default spelled out, a copied config) compare equal."""
    if kind != "robot":
        return {"kind": kind}
    return {
        "kind": kind,
        "suite": align.suite.name,
        "tasks": list(align.tasks),
        "z_dim": align.z_dim,
        "task": align.task,
        "task_topic": align.task_topic,
        "tolerance_s": align.tolerance_ns / 1e9,
        "min_steps": align.min_steps,
        "remap": dict(sorted(align.remap.items())),
        "namespace": align.namespace,
        "z": (label_source or "a labeller") if labelled else "0",
    }


def option_changes(old: dict, new: dict) -> list[str]:
    """`name old -> new` for every fingerprint value that differs (in name order), so a
    refused re-ingest can say exactly which options changed."""
    keys = sorted(set(old) | set(new))
    return [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def earlier_verdict(earlier: list[ChunkInfo], fingerprint: dict) -> tuple[str, str, str]:
    """(status, chunk, error) for a bag that chunks of the store already hold: the same options
    (or options not recorded, by a store older than fingerprints) -> already ingested; other
    options -> say which changed and what to do, since storing nothing silently would look
    like success."""
    for chunk in earlier:
        recorded = chunk.custom_data.get(OPTIONS_KEY)
        if recorded is None or _loads(recorded) == fingerprint:
            return "already ingested", chunk.path.name, ""
    chunk = earlier[-1]
    changes = option_changes(_loads(chunk.custom_data[OPTIONS_KEY]) or {}, fingerprint)
    name = chunk.path.name
    return (
        "ingested with other options",
        name,
        f"{name} holds this bag ingested with other options ({'; '.join(changes)}); nothing "
        "stored: run again with --force to replace it with these options",
    )


def _loads(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
