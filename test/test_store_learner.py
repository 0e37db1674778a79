"""The graph learner's core against a real replay store, ROS-free (training/store_learner.py):
poison episodes are quarantined and training goes on, non-finite updates are rolled back and
never saved or broadcast, and after any number of simulated `kill -9`s the counts are exact."""

import dataclasses
import itertools
import json
import time

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from skill_embedding_ros.agent.checkpoint import decode_weights, read_checkpoint, split_actor_state
from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.agent.weights_acceptance import WeightsInbox
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.assembly import episode_records
from skill_embedding_ros.data.replay import Episode
from skill_embedding_ros.data.replay_store import StoreWriter
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.testing.checkpoints import untrained_checkpoint
from skill_embedding_ros.training.pacing import updates_due
from skill_embedding_ros.training.store_learner import StoreLearner

TINY = """
agent: {hidden: [16, 16], critic_hidden: [16, 16]}
replay: {capacity: 20000, batch: 8, segment: 4}
train: {suite: reach, tasks: [any], env_steps: 100000, warmup_steps: 20, updates_per_step: 0.25}
"""
_ids = itertools.count()


@pytest.fixture
def run(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return load_run_config(path)


def episode(seed: int, length: int = 10, obs_dim: int = 4, task: int = 0) -> Episode:
    """A fit episode of the tiny run (reach: 4 observations, 2 actions, 2-bit z)."""
    rng = np.random.default_rng(seed)
    z = np.where(rng.random(2) < 0.5, -1.0, 1.0).astype(np.float32)
    return Episode(
        obs=rng.normal(0, 0.5, (length + 1, obs_dim)).astype(np.float32),
        action=rng.uniform(-1, 1, (length, 2)).astype(np.float32),
        reward=(rng.random(length) < 0.3).astype(np.float32),
        terminal=np.zeros(length, bool),
        task=task,
        z=np.tile(z, (length, 1)),
        log_b_z=np.full(length, -1.39, np.float32),
        log_b_a=rng.normal(-1, 0.3, length).astype(np.float32),
        z_drawn=np.arange(length) == 0,
        intervention=np.zeros(length, bool),
    )


def land(writer: StoreWriter, episodes: list[Episode]) -> int:
    """Record the episodes as an actor would and land them as one chunk; returns their steps."""
    for ep in episodes:
        stamps = np.arange(len(ep) + 1) * 100_000_000
        for record in episode_records(ep, "/actor_0", next(_ids), stamps):
            writer.add("/actor_0/step_records", sr.encode_cdr(record), time.time_ns())
    writer.flush()
    return sum(len(e) for e in episodes)


def train(learner: StoreLearner) -> None:
    while learner.owed() > 0:
        assert learner.update(), learner.learner.problem


def poison_episodes() -> dict[str, Episode]:
    big_action, big_reward = episode(101), episode(102)
    big_action.action[3, 1] = 1e30
    big_reward.reward[5] = 1e30
    return {
        "observation has 3 values": episode(100, obs_dim=3),
        "task id 7 is not one of the run's 1 task(s)": episode(103, task=7),
        "action reaches 1e+30": big_action,
        "reward reaches 1e+30": big_reward,
    }


def test_poison_episodes_are_quarantined_and_training_goes_on(tmp_path, run):
    store, out = tmp_path / "store", tmp_path / "run"
    writer = StoreWriter(store)
    good = land(writer, [episode(1), episode(2), episode(3)])
    poison = poison_episodes()
    # Poison between fit episodes, in one chunk, as a recorder would store them.
    good += land(writer, [episode(4), *poison.values(), episode(5)]) - 4 * 10

    learner = StoreLearner(run, store, out)
    got = learner.ingest()
    assert len(got.quarantined) == 4 and learner.quarantined == 4
    for line, (why, _) in zip(got.quarantined, poison.items(), strict=True):
        assert line.startswith("chunk_000001 episode ") and why in line, line  # one line each
    assert learner.env_steps == good and learner.episodes == 5
    train(learner)
    assert learner.learner.updates == updates_due(good, run.train) > 0
    assert all(np.isfinite(v) for v in learner.metrics.values())
    learner.checkpoint()

    # The store stays usable: a restarted learner meets the poison again while refilling, skips
    # it without counting it twice, counts what landed since, and trains on.
    good += land(writer, [episode(6), poison["task id 7 is not one of the run's 1 task(s)"]]) - 10
    restarted = StoreLearner(run, store, out)
    got = restarted.ingest()
    assert got.refilled == 5 and got.refill_quarantined == 4 and len(got.quarantined) == 1
    assert restarted.quarantined == 5 and restarted.env_steps == good
    train(restarted)
    tensors, meta = read_checkpoint(out / "checkpoint.safetensors")
    assert meta["quarantined"] == 4 and all(torch.isfinite(t).all() for t in tensors.values())


def demonstration(seed: int) -> Episode:
    """An ingested demonstration: every action an intervention, none the policy's."""
    ep = episode(seed)
    ep.intervention[:] = True
    return ep


def test_demonstrations_train_but_are_not_env_steps(tmp_path, run):
    store, out = tmp_path / "store", tmp_path / "run"
    writer = StoreWriter(store)
    demo_steps = land(writer, [demonstration(s) for s in range(40)])
    learner = StoreLearner(run, store, out)
    learner.ingest()
    # 400 demonstration steps alone owe nothing: the warm-up and the replay ratio wait for the
    # actors, as in-process training with train.demos does.
    assert (learner.env_steps, learner.demo_steps) == (0, demo_steps)
    assert learner.replay.num_episodes == 40 and learner.owed() == 0

    # One actor episode with a demonstrated step in it is the actors' own: all its steps count.
    mixed = episode(50)
    mixed.intervention[3] = True
    actor_steps = land(writer, [episode(s) for s in range(41, 45)] + [mixed])
    learner.ingest()
    assert (learner.env_steps, learner.demo_steps) == (actor_steps, demo_steps)
    train(learner)
    assert learner.learner.updates == updates_due(actor_steps, run.train) > 0
    learner.checkpoint()

    restarted = StoreLearner(run, store, out)
    restarted.ingest()
    assert (restarted.env_steps, restarted.demo_steps) == (actor_steps, demo_steps)
    assert restarted.progress()["demo_steps"] == demo_steps


def test_counts_are_exact_after_repeated_kill_9(tmp_path, run):
    store, out = tmp_path / "store", tmp_path / "run"
    writer = StoreWriter(store)
    rng = np.random.default_rng(0)
    total = episodes = version = 0
    run_id = None
    for _ in range(8):
        learner = StoreLearner(run, store, out)
        if learner.resumed is not None:  # what the last checkpoint held, exactly
            meta = learner.resumed
            assert (learner.env_steps, learner.learner.updates) == (
                meta["env_steps"],
                meta["updates"],
            )
        assert run_id in (None, learner.identity.run)  # a restarted learner keeps its run id
        run_id = learner.identity.run
        _, first, _ = decode_weights(learner.weights())
        assert first > version  # a restarted learner's versions go on, never backwards
        version = first
        for _ in range(int(rng.integers(1, 4))):
            batch = [episode(int(s)) for s in rng.integers(0, 10**6, int(rng.integers(1, 4)))]
            total += land(writer, batch)
            episodes += len(batch)
            learner.ingest()
            assert (learner.env_steps, learner.episodes) == (total, episodes)
            train(learner)
            _, new_version, counts = decode_weights(learner.weights())
            assert new_version >= version and counts["env_steps"] == total
            version = new_version
            if rng.random() < 0.4:
                learner.checkpoint()
        # kill -9: the object is dropped, nothing is saved; episodes land while it is down.
        n = int(rng.integers(0, 3))
        total += land(writer, [episode(int(s)) for s in rng.integers(0, 10**6, n)]) if n else 0
        episodes += n
    final = StoreLearner(run, store, out)
    final.ingest()
    assert (final.env_steps, final.episodes) == (total, episodes)
    assert final.replay.num_episodes == episodes  # every stored episode back in replay, once
    train(final)
    assert final.learner.updates == updates_due(total, run.train)


def test_a_replaced_store_is_counted_as_new(tmp_path, run):
    writer = StoreWriter(tmp_path / "old")
    for k in range(3):
        land(writer, [episode(k)])
    learner = StoreLearner(run, tmp_path / "old", tmp_path / "run")
    learner.ingest()
    learner.checkpoint()
    steps = land(StoreWriter(tmp_path / "new"), [episode(7), episode(8)])
    moved = StoreLearner(run, tmp_path / "new", tmp_path / "run")
    assert moved.store_replaced == 2
    moved.ingest()
    assert moved.env_steps == 30 + steps


def checkpointed_learner(tmp_path, run):
    """A learner trained on 8 stored episodes, its checkpoint written; and its run directory."""
    store, out = tmp_path / "store", tmp_path / "run"
    land(StoreWriter(store), [episode(k) for k in range(8)])
    learner = StoreLearner(run, store, out)
    learner.ingest()
    train(learner)
    learner.checkpoint()
    return learner, out


def test_non_finite_updates_are_rolled_back_and_never_saved_or_sent(tmp_path, run):
    learner, out = checkpointed_learner(tmp_path, run)
    core = learner.learner
    good = {k: v.clone() for k, v in core.nets.state_dict().items()}
    updates = core.updates

    # A batch no validated episode can produce (the store's gate is bypassed): NaN loss.
    r = run.replay
    batch = learner.replay.sample(r.batch, r.segment, run.agent.history, learner.rng)
    batch["reward"][:] = np.nan
    assert core.update(batch, learner.replay.sample_draws(r.batch, learner.rng)) == {}
    assert core.rollbacks == 1 and "non-finite" in core.problem and core.updates == updates
    assert all(torch.equal(v, good[k]) for k, v in core.nets.state_dict().items())
    assert learner.update()  # and training goes on

    # A NaN weight that slipped in: the broadcast and the checkpoint roll it back first.
    with torch.no_grad():
        next(core.nets.policy.parameters()).fill_(float("nan"))
    tensors, _, _ = decode_weights(learner.weights())
    assert all(torch.isfinite(t).all() for t in tensors.values())
    assert core.rollbacks == 2
    learner.checkpoint()
    saved, meta = read_checkpoint(out / "checkpoint.safetensors")
    assert all(torch.isfinite(t).all() for t in saved.values()) and meta["rollbacks"] == 2


def test_a_checkpoint_holding_nan_is_refused_with_a_clear_error(tmp_path, run):
    _, out = checkpointed_learner(tmp_path, run)
    # What a learner without the guard wrote: NaN in its tensors.
    path = out / "checkpoint.safetensors"
    tensors, meta = read_checkpoint(path)
    name = next(k for k in tensors if k.startswith("nets.critic."))
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_file(tensors, path, metadata={"metadata": json.dumps(meta)})
    with pytest.raises(ValueError, match="non-finite values in 1 tensor"):
        StoreLearner(run, tmp_path / "store", out)


def test_a_new_run_starts_from_another_runs_networks(tmp_path, run):
    """Fine-tuning (the learner's `start_from`): every network of a learner checkpoint, or the
    embedding and policy of an actor checkpoint, with counts and optimizers afresh; a checkpoint
    of other networks is refused naming them; a run directory with its own checkpoint resumes."""
    from skill_embedding_ros.settings.nodes import LearnerNodeConfig

    store = tmp_path / "store"
    land(StoreWriter(store), [episode(1), episode(2), episode(3)])
    first = StoreLearner(run, store, tmp_path / "first")
    first.ingest()
    train(first)
    first.checkpoint()
    trained = first.learner.nets.state_dict()

    full = StoreLearner(run, store, tmp_path / "full", start_from=str(first.checkpoint_path))
    assert full.started_from and full.learner.updates == 0 and full.env_steps == 0
    got = full.learner.nets.state_dict()
    assert all(torch.equal(trained[k], got[k]) for k in trained)
    assert full.ingest().episodes == 3  # its own counts: the store is new to this run

    actor = str(tmp_path / "first" / "policy.safetensors")
    part = StoreLearner(run, store, tmp_path / "part", start_from=actor)
    got = part.learner.nets.state_dict()
    for key in trained:
        same = torch.equal(trained[key], got[key])
        assert same == key.startswith(("embedding.", "policy.")), key

    wider = load_run_config(None, ("agent.hidden=[8, 8]", "train.tasks=[any]"))
    with pytest.raises(ValueError, match="does not fit these networks"):
        StoreLearner(wider, store, tmp_path / "wide", start_from=str(first.checkpoint_path))

    standardized = dataclasses.replace(run, agent=dataclasses.replace(run.agent, normalize=True))
    with pytest.raises(ValueError, match=r"agent\.normalize: false; this run sets true"):
        StoreLearner(standardized, store, tmp_path / "std", start_from=actor)

    # Its own checkpoint wins over start_from: a restarted fine-tuning run resumes.
    full.checkpoint()
    again = StoreLearner(run, store, tmp_path / "full", start_from=actor)
    assert again.resumed is not None and not again.started_from

    # The node takes the run config from the checkpoint it starts from.
    node = LearnerNodeConfig(start_from=str(first.checkpoint_path), seed=5)
    from_checkpoint = node.run_config()
    assert from_checkpoint.agent == run.agent and from_checkpoint.train.seed == 5
    assert from_checkpoint.train.warmup_steps == 0 < run.train.warmup_steps
    # Given a config too, it trains by that, as `train --config C --start-from F` does.
    (tmp_path / "anchored.yaml").write_text("agent: {hidden: [8], anchor: 3.0}\n")
    node = LearnerNodeConfig(config=str(tmp_path / "anchored.yaml"), start_from=actor, seed=5)
    by_config = node.run_config()
    assert (by_config.agent.anchor, by_config.train.seed) == (3.0, 5)
    assert by_config.train.warmup_steps == load_run_config(node.config).train.warmup_steps > 0


def test_periodic_evaluation_once_at_or_past_each_multiple(tmp_path, run):
    run = dataclasses.replace(
        run, train=dataclasses.replace(run.train, eval_every=20, eval_episodes=2)
    )
    store, out = tmp_path / "store", tmp_path / "run"
    writer = StoreWriter(store)
    land(writer, [episode(1), episode(2), episode(3)])  # 30 env steps
    learner = StoreLearner(run, store, out)
    assert learner.evaluation() is None  # nothing read: no multiple passed
    learner.ingest()
    row = learner.evaluation()  # due at the store's count, whatever updates are still owed
    assert row["env_steps"] == 30 and 0 <= row["eval/success_task0"] <= 1
    assert "eval/solutions_task0" in row and "eval/return_task0" in row
    assert learner.evaluation() is None  # one point per multiple
    land(writer, [episode(4), episode(5)])  # 50: past the next multiple, 40
    learner.ingest()
    train(learner)
    assert learner.evaluation()["env_steps"] == 50
    learner.checkpoint()
    learner.write_summary()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_steps"] == 50 and summary["periodic_eval"]["points"] == 2
    assert "t0_any" in summary["periodic_eval"]["env_steps_to_solutions"]

    # A restarted learner evaluates next at the multiple after its checkpoint's count.
    restarted = StoreLearner(run, store, out)
    restarted.ingest()
    train(restarted)
    assert restarted.evaluation() is None
    land(writer, [episode(6)])
    restarted.ingest()
    train(restarted)
    assert restarted.evaluation()["env_steps"] == 60


def test_the_graph_learner_ships_its_statistics_to_the_policy_nodes(tmp_path, run):
    """agent.normalize: the statistics reach the policy nodes with the weights."""
    run = dataclasses.replace(run, agent=dataclasses.replace(run.agent, normalize=True))
    land(StoreWriter(tmp_path / "store"), [episode(k) for k in range(8)])
    learner = StoreLearner(run, tmp_path / "store", tmp_path / "run")
    learner.ingest()
    train(learner)
    stats = learner.learner.nets.policy.obs_norm
    assert stats.count.item() > 0

    node = build_networks(run)  # a policy node's networks, as it builds them from the config
    inbox = WeightsInbox(node.actor_state())
    assert inbox.offer(learner.weights()).adopt
    _, policy = split_actor_state(inbox.take().tensors)
    node.policy.load_state_dict(policy)
    for name in ("count", "mean", "var"):
        assert torch.equal(getattr(node.policy.obs_norm, name), getattr(stats, name))


def test_the_graph_learner_holds_its_anchor_across_a_restart(tmp_path, run):
    """agent.anchor in a graph: the learner node's start_from is the policy it holds; a learner
    restarted into its run directory resumes that policy from its own checkpoint."""
    anchored = dataclasses.replace(run, agent=dataclasses.replace(run.agent, anchor=10.0))
    store, out = tmp_path / "store", tmp_path / "run"
    with pytest.raises(ValueError, match="give --start-from"):
        StoreLearner(anchored, store, out)
    start = untrained_checkpoint(tmp_path / "tiny.yaml", tmp_path / "start.safetensors", seed=3)
    learner = StoreLearner(anchored, store, out, start_from=str(start))
    assert learner.start_warning == ""  # held, the skills are not undone
    land(StoreWriter(store), [episode(1), episode(2), episode(3)])
    learner.ingest()
    train(learner)
    assert "losses/anchor" in learner.metrics
    learner.checkpoint()
    held = read_checkpoint(start)[0]
    restarted = StoreLearner(anchored, store, out)  # resumed: no start_from needed
    assert restarted.resumed is not None
    for name, value in restarted.learner.nets.anchor.state_dict().items():
        assert torch.equal(value, held[f"nets.policy.{name}"]), name
    assert not torch.equal(
        restarted.learner.nets.policy.net[0].weight, held["nets.policy.net.0.weight"]
    )


def test_the_graph_learner_warns_of_a_precision_this_cpu_computes_slowly(
    tmp_path, run, monkeypatch
):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    slow = dataclasses.replace(run, agent=dataclasses.replace(run.agent, precision="bfloat16"))
    learner = StoreLearner(slow, tmp_path / "store", tmp_path / "run")
    assert learner.start_warning == learner.learner.warning != ""  # the node logs it
    assert StoreLearner(run, tmp_path / "store", tmp_path / "run2").start_warning == ""
