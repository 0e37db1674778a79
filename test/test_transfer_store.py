"""Transfer through the graph, ROS-free: a transfer run file, the skill-policy node's transfer
acting (transfer/acting.py) and the graph's transfer learner (transfer/store_learner.py) against
a real replay store. Episodes recorded by the acting core become high-level episodes, the
learner trains and broadcasts the high-level policy only, the skills stay bit-identical, the
checkpoint evaluates, and what does not fit is refused with a reason."""

import time

import numpy as np
import pytest
import torch

from skill_embedding_ros.agent.acting import skill_acting
from skill_embedding_ros.agent.checkpoint import decode_weights
from skill_embedding_ros.agent.weights_acceptance import WeightsInbox
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.data.assembly import episode_records
from skill_embedding_ros.data.replay import Episode
from skill_embedding_ros.data.replay_store import StoreWriter
from skill_embedding_ros.settings.transfer import load_transfer_file
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.testing.checkpoints import untrained_checkpoint
from skill_embedding_ros.transfer.acting import transfer_acting
from skill_embedding_ros.transfer.evaluate import evaluate_transfer
from skill_embedding_ros.transfer.model import load_transfer
from skill_embedding_ros.transfer.store_learner import TransferStoreLearner

SKILLS = """
agent: {embedding: gaussian, z_dim: 2, hidden: [16], critic_hidden: [16]}
train: {suite: reach, tasks: [goal_0, goal_1, goal_2]}
"""
HOLD = 10


@pytest.fixture
def run_file(tmp_path):
    (tmp_path / "skills.yaml").write_text(SKILLS)
    skills = untrained_checkpoint(tmp_path / "skills.yaml", tmp_path / "skills.safetensors")
    path = tmp_path / "transfer.yaml"
    path.write_text(
        f"skills: {skills}\nsuite: reach_transfer\ntask: sequence\n"
        f"transfer: {{hold: {HOLD}, hidden: [16], critic_hidden: [16], batch: 4, segment: 3,"
        " warmup_steps: 0, env_steps: 200, updates_per_step: 0.1}\n"
    )
    return path


def recorded_episode(acting, seed: int) -> Episode:
    """One episode as a skill-policy node records it: the acting core on the suite's env."""
    env = SuiteEnv(acting.suite, acting.tasks, seed=seed)
    obs, _ = env.reset(options={"task": 0})
    acting.core.begin(0, 0)
    keys = ("obs", "action", "reward", "z", "log_b_z", "log_b_a", "z_drawn")
    steps = {k: [] for k in keys}
    steps["obs"].append(obs)
    for _ in range(acting.suite.episode_steps):
        d = acting.core.act(np.asarray(obs, np.float32)[None])
        obs, reward, *_ = env.step(d.action[0])
        for key, value in zip(
            keys[1:], (d.action, [reward], d.z, d.log_b_z, d.log_b_a, d.z_drawn), strict=True
        ):
            steps[key].append(value[0])
        steps["obs"].append(obs)
    n = acting.suite.episode_steps
    arrays = {k: np.asarray(v, bool if k == "z_drawn" else np.float32) for k, v in steps.items()}
    return Episode(**arrays, terminal=np.zeros(n, bool), task=0, intervention=np.zeros(n, bool))


def land(store, episodes) -> None:
    writer = StoreWriter(store)
    for i, ep in enumerate(episodes):
        stamps = np.arange(len(ep) + 1) * 100_000_000
        for record in episode_records(ep, "/actor_0", i, stamps):
            writer.add("/actor_0/step_records", sr.encode_cdr(record), time.time_ns())
    writer.flush()
    writer.close()


def test_a_transfer_file_names_its_skills_and_task(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: sequence\n")
    with pytest.raises(ValueError, match="names its skills"):
        load_transfer_file(str(bad))
    bad.write_text("skills: x\ntask: t\ntransfer: {hold: 0}\n")
    with pytest.raises(ValueError, match="hold"):
        load_transfer_file(str(bad))
    bad.write_text("skills: x\ntask: t\nholds: 3\n")
    with pytest.raises(ValueError, match="unknown key"):
        load_transfer_file(str(bad))


def test_recorded_episodes_train_the_high_level_policy_only(run_file, tmp_path):
    acting = transfer_acting(str(run_file), "", False, seed=1)
    assert acting.tasks == ["sequence"] and acting.suite.name == "reach_transfer"
    assert set(acting.weights) and all(k.startswith("high_level.") for k in acting.weights)
    episodes = [recorded_episode(acting, seed) for seed in range(4)]
    # An episode whose z was not held K steps (another policy's) is refused, not trained on.
    foreign = recorded_episode(acting, 9)
    foreign.z[3] += 0.5
    land(tmp_path / "store", [*episodes, foreign])

    learner = TransferStoreLearner(load_transfer_file(str(run_file)), tmp_path / "store", tmp_path)
    skills_before = {k: v.clone() for k, v in learner.model.skills.state().items()}
    got = learner.ingest()
    assert got.episodes == 4 and learner.env_steps == 200
    assert (
        len(got.quarantined) == 1 and "not an episode of this transfer run" in got.quarantined[0]
    )
    assert len(learner.replay) == 4 * 50 // HOLD  # one high-level step per held z
    high_level_before = {k: v.clone() for k, v in learner.model.high_level.state_dict().items()}
    assert learner.owed() == 20
    while learner.owed() > 0:
        assert learner.update(), learner.learner.problem
    assert learner.done()
    after = learner.model.high_level.state_dict()
    assert any(not torch.equal(high_level_before[k], after[k]) for k in after)
    skills_after = learner.model.skills.state()
    assert all(torch.equal(skills_before[k], skills_after[k]) for k in skills_before)

    # The broadcast fits a transfer actor and is refused by a skills actor.
    tensors, version, counts = decode_weights(learner.weights())
    assert counts["updates"] == 20 and counts["env_steps"] == 200 and version == 1
    inbox = WeightsInbox(acting.weights)
    assert inbox.offer(learner.weights()).adopt
    acting.load(inbox.take().tensors)
    for key, value in tensors.items():
        assert torch.equal(value, after[key.removeprefix("high_level.")])
    skills = skill_acting("", str(tmp_path / "skills.safetensors"), False, seed=0)
    assert not WeightsInbox(skills.weights).offer(learner.weights()).adopt

    # The checkpoint is a transfer checkpoint: it evaluates, and the node can act from it.
    learner.checkpoint()
    model, _, meta = load_transfer(tmp_path / "checkpoint.safetensors")
    assert meta["env_steps"] == 200 and meta["skills_from"] == str(tmp_path / "skills.safetensors")
    report, _ = evaluate_transfer(model, episodes=2)
    assert report["per_task"][0]["task"] == "sequence"
    from_checkpoint = transfer_acting("", str(tmp_path / "checkpoint.safetensors"), True, 0)
    for key, value in from_checkpoint.weights.items():
        assert torch.equal(value, after[key.removeprefix("high_level.")])
    # A transfer run is not resumed: its directory is refused once it holds a checkpoint.
    with pytest.raises(ValueError, match="not resumed"):
        TransferStoreLearner(load_transfer_file(str(run_file)), tmp_path / "store", tmp_path)


def test_committed_transfer_files_load_and_name_a_task_of_their_suite():
    from skill_embedding_ros.settings.run import CONFIG_DIR
    from skill_embedding_ros.tasks.registry import get_suite

    files = sorted(CONFIG_DIR.glob("transfer/*.yaml"))
    assert files
    for path in files:
        run = load_transfer_file(str(path))
        get_suite(run.suite).check_task(run.task)
        # By name (under config/transfer/), as a graph argument gives it.
        assert load_transfer_file(path.name) == run


def test_skills_that_act_with_their_mean_still_train_the_high_level_policy(run_file, tmp_path):
    """transfer.skill_actions: mean in the run file: the node's skills take their mean action
    (no density: log b(a) NaN), and the store learner trains HL from the z's log b alone."""
    run_file.write_text(run_file.read_text().replace("updates_per_step", "skill_actions: mean, "
                                                     "updates_per_step"))  # fmt: skip
    acting = transfer_acting(str(run_file), "", False, seed=1)
    assert acting.core.deterministic
    episodes = [recorded_episode(acting, seed) for seed in range(4)]
    assert all(np.isnan(ep.log_b_a).all() and np.isfinite(ep.log_b_z).all() for ep in episodes)
    land(tmp_path / "store", episodes)
    learner = TransferStoreLearner(load_transfer_file(str(run_file)), tmp_path / "store", tmp_path)
    got = learner.ingest()
    assert got.episodes == 4 and not got.quarantined
    before = {k: v.clone() for k, v in learner.model.high_level.state_dict().items()}
    while learner.owed() > 0:
        assert learner.update(), learner.learner.problem
    after = learner.model.high_level.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in after)
