"""Trial labels through bags (data/bags/trial_labels.py): a bag written with rosbags holding the
trial manager's `trial_label` topics reads back into {(namespace, episode): label}, and
`skill-embedding ingest` keeps them with the episodes (aborted ones stored, counted apart)."""

import json

import numpy as np
import pytest
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import StoragePlugin

from skill_embedding_ros.data import replay_store as rs
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.assembly import episode_records
from skill_embedding_ros.data.bags.ingest import IngestOptions, ingest
from skill_embedding_ros.data.bags.trial_labels import CUSTOM_KEY, parse, read_labels
from skill_embedding_ros.testing.episodes import random_episode
from skill_embedding_ros.topic_names import STEP_RECORDS, TRIAL_LABEL

TS = sr.typestore()
STRING = "std_msgs/msg/String"


def label_cdr(text: str) -> bytes:
    return bytes(TS.serialize_cdr(TS.types[STRING](data=text), STRING))


def write_bag(path, labels: dict[str, list[str]], episodes: int = 0, storage="mcap") -> None:
    """Labels per namespace (in order), and `episodes` record episodes of /actor_0 before them."""
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as bag:
        t = 10**9
        if episodes:
            records = bag.add_connection(f"/actor_0/{STEP_RECORDS}", sr.MSGTYPE, typestore=TS)
            for n in range(episodes):
                episode = random_episode(n)
                stamps = np.arange(len(episode) + 1) * 10**8 + n * 10**10
                for record in episode_records(episode, "/actor_0", n, stamps):
                    t += 10**6
                    bag.write(records, t, sr.encode_cdr(record))
        for namespace, texts in labels.items():
            conn = bag.add_connection(f"{namespace}/{TRIAL_LABEL}", STRING, typestore=TS)
            for text in texts:
                t += 10**6
                bag.write(conn, t, label_cdr(text))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_labels_round_trip_through_a_bag(tmp_path, storage):
    labels = {
        "/actor_0": ["trial=1 episode=4 label=success", "trial=2 episode=5 label=abort"],
        # malformed, and a trial whose episode never started (-1): both left out
        "/arm/left": [
            "trial=1 episode=0 label=failure", "garbage", "trial=2 episode=-1 label=abort"
        ],
    }  # fmt: skip
    write_bag(tmp_path / "bag", labels, storage=storage)
    assert read_labels(tmp_path / "bag") == {
        ("/actor_0", 4): "success",
        ("/actor_0", 5): "abort",
        ("/arm/left", 0): "failure",
    }


def test_parse_says_what_a_label_looks_like():
    assert parse("trial=3 episode=12 label=failure") == (3, 12, "failure")
    with pytest.raises(ValueError, match="expected 'trial=<k> episode=<n> label=<success"):
        parse("trial=3 episode=12 label=maybe")


def test_ingest_keeps_the_labels_and_counts_aborted_trials_apart(tmp_path):
    labels = [
        "trial=1 episode=0 label=success",
        "trial=2 episode=1 label=abort",
        "trial=3 episode=2 label=failure",
        "trial=4 episode=9 label=success",  # an episode not in the bag
    ]
    write_bag(tmp_path / "bag", {"/actor_0": labels}, episodes=4)
    code, [summary] = ingest(
        [tmp_path / "bag"], tmp_path / "store", IngestOptions(), report=lambda s: None
    )
    assert code == 0 and summary.status == "stored"
    assert summary.episodes == 4  # the aborted trial's steps are stored too
    assert summary.dropped == 0  # label messages are read, not dropped records
    aborted = len(random_episode(1))
    assert summary.trials == (
        "4 labelled, 3 of them among the 4 stored episodes: success 1, failure 1; "
        f"abort 1 (stored, {aborted} transitions, counted apart: the steps are real robot "
        "data, the outcome is not judged)"
    )
    assert f"  trials: {summary.trials}" in summary.text()
    [chunk] = rs.list_chunks(tmp_path / "store")
    assert json.loads(chunk.custom_data[CUSTOM_KEY]) == [
        ["/actor_0", 0, "success"],
        ["/actor_0", 1, "abort"],
        ["/actor_0", 2, "failure"],
    ]


def test_a_bag_without_labels_ingests_as_before(tmp_path):
    write_bag(tmp_path / "bag", {}, episodes=2)
    code, [summary] = ingest(
        [tmp_path / "bag"], tmp_path / "store", IngestOptions(), report=lambda s: None
    )
    assert code == 0 and summary.trials == "" and "trials:" not in summary.text()
    [chunk] = rs.list_chunks(tmp_path / "store")
    assert CUSTOM_KEY not in chunk.custom_data
