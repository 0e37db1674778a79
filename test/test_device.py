"""The learner's `device` parameter: training on a GPU, weights and checkpoints back on the CPU.

Skipped where torch sees no CUDA device (CI); run where one is, e.g. `pytest test/test_device.py`.
"""

import numpy as np
import pytest
import torch

from skill_embedding_ros.agent.checkpoint import load_checkpoint_into, read_checkpoint
from skill_embedding_ros.agent.cuda_graph import WARMUP_UPDATES
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.agent.retrace import retrace_targets
from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.settings.run import RunConfig, from_dict
from skill_embedding_ros.testing.episodes import make_networks, replay_batch
from skill_embedding_ros.training.trainer import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize(
    "embedding, precision",
    [("bernoulli", "float32"), ("gaussian", "float32"), ("bernoulli", "bfloat16")],
)
def test_training_on_cuda_keeps_actors_and_checkpoints_on_the_cpu(tmp_path, embedding, precision):
    agent = {"embedding": embedding, "hidden": [32], "critic_hidden": [32], "precision": precision}
    cfg = from_dict(
        RunConfig,
        {
            "agent": agent,
            # Relabelling and several tasks take the learner's every path.
            "replay": {"relabel": 0.5},
            "train": {
                "tasks": ["goal_0", "goal_1"],
                "env_steps": 3000,
                "warmup_steps": 500,
                "weight_sync_updates": 20,
                "device": "cuda",
            },
        },
    )
    trainer = Trainer(cfg, tmp_path, progress=False)
    summary = trainer.run()
    assert summary["updates"] == int((3000 - 500) * 0.25)
    assert all(p.is_cuda and p.dtype == torch.float32 for p in trainer.nets.parameters())
    assert all(np.isfinite(v) for v in trainer.metrics.values()), trainer.metrics
    actor_state = trainer.nets.actor_state()
    assert all(t.device.type == "cpu" for t in actor_state.values())

    tensors, meta = read_checkpoint(tmp_path / "checkpoint.safetensors")
    on_cpu = Learner(build_networks(cfg), 50)
    load_checkpoint_into(on_cpu, tensors, "checkpoint")
    for a, b in zip(on_cpu.nets.parameters(), trainer.nets.parameters(), strict=True):
        torch.testing.assert_close(a, b.cpu())
    assert on_cpu.optimizers["critic"].state_dict()["state"]
    assert meta["updates"] == summary["updates"]


def _cpu(out):
    return tuple(x.cpu() for x in out) if isinstance(out, tuple) else out.cpu()


@pytest.mark.parametrize("embedding", ["bernoulli", "gaussian"])
def test_networks_compute_the_same_on_both_devices(embedding):
    nets = make_networks(embedding)
    on_gpu = make_networks(embedding).to("cuda")
    on_gpu.load_state_dict(nets.state_dict())
    obs, z = torch.randn(16, 3), torch.rand(16, 2)
    action, task = torch.rand(16, 2) * 2 - 1, torch.randint(0, 2, (16,))
    window, valid = torch.randn(16, 3, 3), torch.ones(16, 3)
    action_window = torch.rand(16, 3, 2)
    calls = {
        "policy": (obs, z),
        "critic": (obs, action, z, task),
        "embedding": (task,),
        "inference": (window, action_window, valid),
    }
    for name, args in calls.items():
        cpu_out = getattr(nets, name)(*args)
        gpu_out = getattr(on_gpu, name)(*(x.cuda() for x in args))
        torch.testing.assert_close(_cpu(gpu_out), cpu_out, rtol=1e-4, atol=1e-5, msg=name)

    rewards, discounts, q_taken, v_next, c = torch.rand(5, 8, 12).unbind(0)
    torch.testing.assert_close(
        retrace_targets(rewards, discounts, q_taken, v_next, c),
        retrace_targets(*(x.cuda() for x in (rewards, discounts, q_taken, v_next, c))).cpu(),
    )


@pytest.mark.parametrize("embedding", ["bernoulli", "gaussian"])
def test_latent_samples_stay_on_the_device_of_their_parameters(embedding):
    nets = make_networks(embedding).to("cuda")
    params = nets.embedding(torch.arange(2, device="cuda"))
    z = nets.latent.sample(params)
    assert z.is_cuda and z.shape == (2, nets.latent.z_dim)
    assert torch.isfinite(nets.latent.log_prob(params, z)).all()


@pytest.mark.parametrize(
    "family, precision, compiled",
    [
        ("bernoulli", "float32", False),
        ("gaussian", "float32", False),
        ("gaussian", "bfloat16", False),
        ("bernoulli", "float32", True),
    ],
)
def test_updates_replayed_as_a_cuda_graph_match_updates_op_by_op(family, precision, compiled):
    """agent.cuda_graph: after its warm-up updates a learner replays one captured graph per
    update; with the same batches and random seeds it computes what a learner launching every
    kernel itself computes (the same kernels: random draws included). With agent.compile the
    capture holds inductor's kernels for the layers: the same numbers within the tolerance."""
    nets = make_networks(family, precision=precision, compile=compiled)
    graphed = Learner(nets, hold_steps=8, device="cuda")
    eager_nets = make_networks(family, precision=precision, cuda_graph=False)
    eager_nets.load_state_dict(graphed.nets.state_dict())
    eager = Learner(eager_nets, hold_steps=8, device="cuda")
    assert graphed.graph_problem == "" and eager.graph_problem == "agent.cuda_graph is false"
    for seed in range(WARMUP_UPDATES + 5):
        got = {}
        for name, learner in (("graphed", graphed), ("eager", eager)):
            torch.cuda.manual_seed(seed)
            got[name] = learner.update(*replay_batch(seed))
        assert list(got["graphed"]) == list(got["eager"])
        np.testing.assert_allclose(
            list(got["graphed"].values()), list(got["eager"].values()), rtol=1e-4, atol=1e-5,
            err_msg=f"update {seed}: {got}",
        )  # fmt: skip
    assert graphed._graph is not None and eager._graph is None
    for a, b in zip(graphed.nets.parameters(), eager.nets.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_a_graphed_learner_captures_again_after_a_rollback_or_a_new_batch_shape():
    learner = Learner(make_networks(), hold_steps=8, device="cuda")
    for seed in range(WARMUP_UPDATES + 2):
        assert learner.update(*replay_batch(seed))
    first = learner._graph
    assert first is not None
    with torch.no_grad():  # a NaN in a weight the graph reads: the replay's losses go NaN
        learner.nets.critic.net[-1].bias[0] = float("nan")
    assert learner.update(*replay_batch(10)) == {} and learner.rollbacks == 1
    assert learner._graph is None  # the rollback loaded new optimizer moments
    metrics = learner.update(*replay_batch(11))
    assert metrics and all(np.isfinite(v) for v in metrics.values()), metrics
    assert learner._graph is not None and learner._graph is not first
    second = learner._graph
    assert learner.update(*replay_batch(12, segments=8)) and learner._graph is not second
    assert all(torch.isfinite(p).all() for p in learner.nets.parameters())
