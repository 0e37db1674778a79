"""Bags of the Jaco's scripted demonstrations, robot topics only (issue 15): the scripted
controller (tasks/jaco/scripted.py) solves push and lift in the jaco_velocity scene; its
joint_states (nine joints by name, fingers included), block and goal poses, commands and the
graph's `task` topic go into a rosbag2 bag, which ingests into a store as the episodes a
SuiteEnv gives for the same seeds, and a checkpoint's q_psi labels each with its z."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from skill_embedding_ros import cli
from skill_embedding_ros.agent.checkpoint import save_checkpoint
from skill_embedding_ros.agent.run_networks import build_networks, load_networks
from skill_embedding_ros.data import replay_store as rs
from skill_embedding_ros.data.bags.align import AlignConfig
from skill_embedding_ros.data.bags.ingest import IngestOptions, ingest
from skill_embedding_ros.data.bags.label import infer_z
from skill_embedding_ros.data.bags.reader import BagFile
from skill_embedding_ros.settings.run import load_run_config, to_dict
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.jaco.scripted import ScriptedController
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.testing.bags import robot_demos, robot_messages, write_messages

SUITE = get_suite("jaco_velocity")
TASKS = ("push", "lift")
SEEDS = (3, 4)
Z_DIM = 2


def _controller(task: str):
    """robot_demos' controller: the script's action, as the command (rad/s) the gate sends."""
    script = ScriptedController(SUITE, task)
    return lambda obs, rng: SUITE.command(script(obs).astype(np.float32))


def _env_episode(task: str, seed: int):
    """The same start and script in a SuiteEnv: obs [L+1, S], actions [L, A], rewards [L]."""
    env, script = SuiteEnv(SUITE, [task], seed=seed), ScriptedController(SUITE, task)
    obs, _ = env.reset(options={"task": 0})
    observations, actions, rewards = [obs], [], []
    for _ in range(SUITE.episode_steps):
        action = script(obs).astype(np.float32)
        obs, reward, *_ = env.step(action)
        observations.append(obs)
        actions.append(action)
        rewards.append(reward)
    return np.stack(observations), np.stack(actions), np.array(rewards, np.float32)


def _bag(tmp_path):
    demos = []
    for task, seed in zip(TASKS, SEEDS, strict=True):
        demos += robot_demos(SUITE, 1, _controller(task), seed=seed, task=task)
    path = tmp_path / "jaco_demo"
    write_messages(path, robot_messages(SUITE, demos, tasks=TASKS))
    return path


def test_scripted_jaco_demonstrations_ingest_and_are_labelled(tmp_path):
    bag = _bag(tmp_path)
    with BagFile(bag) as reader:
        topics = reader.topics
    assert topics["/actor_0/objects/goal/pose"] == "geometry_msgs/msg/PoseStamped"
    assert topics["/actor_0/task"] == "std_msgs/msg/String"
    assert not [t for t in topics if t.endswith("step_records")]  # robot topics only

    # Ingest with the robot-topic alignment; the task comes from the bag's `task` topic.
    align = AlignConfig(suite=SUITE, tasks=TASKS, z_dim=Z_DIM)
    options = IngestOptions(kind="robot", align=align)
    code, [summary] = ingest([bag], tmp_path / "store", options, report=lambda s: None)
    assert code == 0 and summary.status == "stored", summary.text()
    assert (summary.episodes, summary.transitions) == (2, 2 * SUITE.episode_steps)
    assert summary.unmatched == 0 and summary.gaps == 0 and summary.non_finite == 0
    got = rs.StoreReader(tmp_path / "store").new_episodes()
    assert [e.task for e in got] == [0, 1]

    for i, (task, seed) in enumerate(zip(TASKS, SEEDS, strict=True)):
        episode = got[i]
        obs, actions, rewards = _env_episode(task, seed)
        assert episode.obs.shape == (SUITE.episode_steps + 1, SUITE.obs_dim) == (201, 34)
        assert np.isfinite(episode.obs).all()
        # The observer's 34-D observations from the bag's read-outs are the env's.
        np.testing.assert_allclose(episode.obs, obs, atol=1e-6)
        # Actions: the commanded joint velocities, back in [-1, 1] (suite.action).
        assert episode.action.shape == (SUITE.episode_steps, 9)
        assert np.abs(episode.action).max() <= 1.0
        np.testing.assert_allclose(episode.action, actions, atol=1e-6)
        # Rewards recomputed by the task's reward are the env's; the episode is a strict success.
        np.testing.assert_allclose(episode.reward, rewards, atol=1e-6)
        np.testing.assert_allclose(episode.reward, SUITE.reward(task, episode.obs[1:]), atol=0)
        assert SUITE.outcomes(task, episode.obs[None])[0] == 0, task
        assert np.isnan(episode.log_b_a).all() and (episode.z == 0).all()  # a demonstration

    # `--checkpoint`: a tiny fresh network for the suite, saved as a run saves it, labels z.
    overrides = (
        "train.suite=jaco_velocity",
        "train.tasks=[push, lift]",
        f"agent.z_dim={Z_DIM}",
        "agent.embedding=gaussian",
        "agent.hidden=[16, 16]",
        "agent.critic_hidden=[16, 16]",
        "agent.history=2",
    )
    cfg = load_run_config(None, overrides, host=False)
    learner = SimpleNamespace(nets=build_networks(cfg), optimizers={}, updates=0)
    checkpoint = tmp_path / "checkpoint.safetensors"
    save_checkpoint(checkpoint, learner, {"config": to_dict(cfg)})
    store = tmp_path / "labelled"
    args = ["ingest", str(bag), "--into", str(store), "--checkpoint", str(checkpoint), "--quiet"]
    assert cli.main(args) == 0
    labelled = rs.StoreReader(store).new_episodes()
    nets, cfg, _ = load_networks(checkpoint)
    assert len(labelled) == 2
    for plain, episode in zip(got, labelled, strict=True):
        np.testing.assert_array_equal(episode.obs, plain.obs)
        assert episode.z.shape == (SUITE.episode_steps, Z_DIM) and np.isfinite(episode.z).all()
        assert (episode.z == episode.z[0]).all()  # one z held for the episode
        want = infer_z(nets.inference, nets.latent, cfg.agent.history, plain)
        np.testing.assert_allclose(episode.z[0], want, atol=1e-5)
    assert not np.allclose(labelled[0].z[0], labelled[1].z[0])  # two skills, two z


def test_set_narrows_the_config_to_a_pair_and_other_tasks_are_left_out(tmp_path, capsys):
    """A pair's demonstrations from a bag of more tasks: `--set train.tasks=...` on the six-task
    config keeps the named tasks, numbered as the pair's run numbers them."""
    bag, store = _bag(tmp_path), tmp_path / "lift_only"
    six = ["--config", "config/jaco_pretrain_dagger.yaml"]
    args = ["ingest", str(bag), "--into", str(store), *six, "--set", "train.tasks=[lift]"]
    assert cli.main([*args, "--quiet"]) == 0
    [episode] = rs.StoreReader(store).new_episodes()
    assert episode.task == 0 and episode.obs.shape == (SUITE.episode_steps + 1, 34)
    np.testing.assert_allclose(episode.obs, _env_episode("lift", SEEDS[1])[0], atol=1e-6)
    # --set changes --config's values; with a checkpoint's config it is refused, storing nothing.
    refused = ["ingest", str(bag), "--into", str(tmp_path / "no"), "--checkpoint", "c"]
    assert cli.main([*refused, "--set", "train.tasks=[lift]", "--quiet"]) == 2
    assert "--set changes --config's values" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
