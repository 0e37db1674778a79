"""`train.demos`: a replay store's episodes fill replay before training (training/demos.py),
checked against the run's shapes and tasks before a run directory exists."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skill_embedding_ros.cli import main
from skill_embedding_ros.data import replay_store as rs
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.assembly import episode_records
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.testing.episodes import make_episode
from skill_embedding_ros.training.demos import demo_episodes
from skill_embedding_ros.training.trainer import Trainer

SHORT = ("train.env_steps=400", "train.warmup_steps=200", "train.log_every=200")


def _store(path, episodes) -> str:
    writer = rs.StoreWriter(path)
    for i, episode in enumerate(episodes):
        stamps = np.arange(len(episode) + 1) * 10**8 + i * 10**10
        for record in episode_records(episode, "/actor_0", i, stamps, demonstration=True):
            writer.add("/actor_0/step_records", sr.encode_cdr(record), int(record.stamp_ns))
    writer.close()
    return str(path)


def _reach_episode(task: int, offset: float) -> object:
    episode = make_episode(50, task=task, obs_dim=4, action_dim=2, z_dim=2, offset=offset)
    episode.log_b_a[:] = np.nan  # demonstrated: the behaviour is unknown
    return episode


def test_demonstrations_fill_replay_before_the_first_step(tmp_path):
    store = _store(tmp_path / "demos", [_reach_episode(0, 0.0), _reach_episode(0, 0.5)])
    cfg = load_run_config("reach_bernoulli.yaml", (*SHORT, f"train.demos={store}"))
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    assert trainer.replay.num_episodes == 2 and trainer.demos == 2
    assert trainer.stats.episodes == 0  # the actor's own statistics start empty
    summary = trainer.run()
    assert summary["demo_episodes"] == 2 and summary["updates"] > 0
    assert json.loads((tmp_path / "run" / "progress.jsonl").read_text().splitlines()[-1])


def test_the_imitation_term_learns_from_the_demonstrations_in_replay(tmp_path):
    # An ingested demonstration is an intervention (the policy did not choose the action):
    # agent.imitation clones it; the stored flag is what selects the steps.
    demos = [_reach_episode(0, 0.0), _reach_episode(0, 0.5)]
    for episode in demos:
        episode.intervention[:] = True
    store = _store(tmp_path / "demos", demos)
    cfg = load_run_config(
        "reach_bernoulli.yaml", (*SHORT, f"train.demos={store}", "agent.imitation=10")
    )
    Trainer(cfg, tmp_path / "run", progress=False).run()
    row = json.loads((tmp_path / "run" / "progress.jsonl").read_text().splitlines()[-1])
    assert row["losses/imitation"] > 0 and 0 < row["values/demo_share"] <= 1, row


def test_a_store_that_does_not_fit_the_run_is_refused_before_anything_is_written(tmp_path):
    wide = _store(tmp_path / "wide", [make_episode(50, obs_dim=5, action_dim=2, z_dim=2)])
    with pytest.raises(ValueError, match="5-wide observations, the run 4"):
        demo_episodes(wide, 4, 2, 2, ("any",))
    other_task = _store(tmp_path / "task", [_reach_episode(3, 0.0)])
    with pytest.raises(ValueError, match=r"task id 3; the run's tasks are \['any'\]"):
        demo_episodes(other_task, 4, 2, 2, ("any",))
    cfg = load_run_config("reach_bernoulli.yaml", (*SHORT, f"train.demos={wide}"))
    with pytest.raises(ValueError, match=r"train\.demos"):
        Trainer(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_the_cli_names_a_demos_path_that_is_no_store(tmp_path, capsys, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "demos"
    if kind == "empty":
        path.mkdir()
    argv = ["train", "--quiet", "--no-eval", "--set", f"train.demos={path}", "--out", "run"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    want = "there is none at" if kind == "missing" else "no chunk in"
    assert err.startswith("error: train.demos must be") and want in err, err
    assert not (tmp_path / "run").exists()


def test_a_graph_learner_refuses_demos_and_says_where_they_go(tmp_path):
    """A graph learner's one source is its store: the node exits 2 naming the ingest command."""
    from skill_embedding_ros.ros.processes import fresh_domain, log_text, start_node

    store = _store(tmp_path / "demos", [_reach_episode(0, 0.0)])
    config = tmp_path / "run.yaml"
    config.write_text(f"train: {{demos: {store}}}\n")
    params = {"config": str(config), "store": str(tmp_path / "store"), "out": str(tmp_path / "o")}
    learner = start_node("learner", fresh_domain(), tmp_path, params=params)
    assert learner.wait(60) == 2
    text = log_text(learner)
    assert "train.demos" in text and f"skill-embedding ingest BAGS --into {tmp_path}" in text
