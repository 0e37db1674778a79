"""The learner: one update of all four networks from a batch of replayed segments.

Order per update (each network has its own optimizer, so no loss moves another's parameters):
critic on Retrace targets, policy and embedding by stochastic value gradients through the
reparameterized a and z, inference network by maximum likelihood of the replayed z. Two terms
not in the paper may join the policy's loss: agent.imitation (clone demonstrated steps) and
agent.anchor (stay near the policy the run started from).

Non-finite guard: the learner keeps its last good state (networks, optimizer moments, update
count) in memory. An update whose losses or diagnostics come out non-finite is rolled back to it
at once; `verify` (every VERIFY_EVERY updates, and by callers before a checkpoint or a weights
broadcast) checks every tensor and either makes the current state the last good one or rolls
back. So NaN never reaches a checkpoint or an actor, and a rolled-back update is simply done
again (the update count goes back with the weights).

On a CUDA device an update is, where the config allows, replayed as one CUDA graph
(agent/cuda_graph.py): the same kernels in the same order, launched at once.
"""

from __future__ import annotations

import copy
import math
from contextlib import contextmanager, nullcontext

import numpy as np
import torch

from skill_embedding_ros.agent import losses
from skill_embedding_ros.agent.checkpoint import checkpoint_tensors, load_checkpoint_into
from skill_embedding_ros.agent.cuda_graph import (
    WARMUP_UPDATES,
    GraphedStep,
    graph_problem,
    side_stream,
)
from skill_embedding_ros.agent.distributions import (
    atanh_clipped,
    sample_tanh_gaussian,
    tanh_gaussian_log_prob,
)
from skill_embedding_ros.agent.networks import (
    Critic,
    Embedding,
    InferenceNet,
    Latent,
    PolicyNet,
    compile_problem,
    compiled_layers,
    layers_in,
    precision_warning,
)
from skill_embedding_ros.agent.retrace import retrace_targets
from skill_embedding_ros.data.validation import nonfinite_tensors
from skill_embedding_ros.settings.run import AgentConfig

VERIFY_EVERY = 50
"""Updates between full finiteness checks (about 1 ms each; an update takes several)."""


class Networks(torch.nn.Module):
    """The four networks (and the target critic) of one agent, sized for a suite."""

    def __init__(self, obs_dim: int, action_dim: int, num_tasks: int, cfg: AgentConfig):
        super().__init__()
        self.cfg = cfg
        self.obs_dim, self.action_dim, self.num_tasks = obs_dim, action_dim, num_tasks
        latent = Latent(cfg.embedding, cfg.z_dim, cfg.log_std_bounds, cfg.temperature)
        self.latent = latent
        self.embedding = Embedding(num_tasks, latent)
        self.policy = PolicyNet(obs_dim, cfg.z_dim, action_dim, cfg)
        norm = self.policy.obs_norm  # None unless agent.normalize; shared, owned by the policy
        self.inference = InferenceNet(obs_dim, action_dim, latent, cfg, norm)
        self.critic = Critic(obs_dim, action_dim, cfg.z_dim, num_tasks, cfg, norm)
        # The target critic reads the same statistics (the memo keeps the one normalizer).
        memo = {id(norm): norm}
        self.critic_target = copy.deepcopy(self.critic, memo).requires_grad_(False)
        # agent.anchor: the policy the run started from, frozen with its own statistics
        # (run_networks.start_learner_from sets it); in the state, so a resumed run keeps it.
        self.anchor = copy.deepcopy(self.policy).requires_grad_(False) if cfg.anchor else None

    def actor_state(self) -> dict[str, torch.Tensor]:
        """What an actor needs (embedding and policy), as a flat tensor dict."""
        return {
            f"{name}.{k}": v.detach().cpu().contiguous()
            for name in ("embedding", "policy")
            for k, v in getattr(self, name).state_dict().items()
        }


@contextmanager
def weights_fixed(*modules: torch.nn.Module):
    """Forward passes inside record no gradient for the modules' weights; gradients still flow
    through them to their inputs. The policy's loss needs the critic's gradient with respect to
    the action, not its weights (their gradient was computed, then discarded by the critic's
    next zero_grad): leaving it out saves a matrix product per layer, numerics unchanged."""
    for module in modules:
        module.requires_grad_(False)
    try:
        yield
    finally:
        for module in modules:
            module.requires_grad_(True)


def hold_discount(gamma: float, hold_steps: int) -> float:
    """sum_{i < hold} gamma^i: the discounted number of steps one z is held."""
    return (1.0 - gamma**hold_steps) / (1.0 - gamma)


class Learner:
    """Owns the networks and optimizers; `update` runs one gradient step of every loss."""

    def __init__(self, nets: Networks, hold_steps: int, device: str = "cpu"):
        self.nets = nets.to(device)
        self.cfg = nets.cfg
        self.device = torch.device(device)
        self.hold_discount = hold_discount(self.cfg.gamma, hold_steps)
        self.warning = precision_warning(self.cfg.precision, self.device)
        """Why this learner will run slower than float32 here (agent.precision), or ""."""
        self.graph_problem = graph_problem(nets, self.device)
        """Why updates run op by op rather than as one CUDA graph, or "" (agent.cuda_graph)."""
        self._graph: GraphedStep | None = None
        self._eager_updates = 0
        self._compiled = None  # agent.compile: each MLP's layers under torch.compile
        if self.cfg.compile:
            problem = compile_problem(self.device)
            if problem:
                raise ValueError(problem)
            self._compiled = compiled_layers(self.nets)
        self.optimizers = {
            # fused: one kernel per step instead of one per tensor (3x faster on a CPU too);
            # capturable: the step counts stay on the GPU, so a CUDA graph can replay a step.
            name: torch.optim.Adam(
                getattr(nets, name).parameters(),
                lr=self.cfg.lr,
                fused=True,
                capturable=not self.graph_problem,
            )
            for name in ("critic", "policy", "embedding", "inference")
        }
        self.updates = 0
        self.rollbacks = 0
        """Times a non-finite state was rolled back to the last good one."""
        self.problem = ""
        """Why the last rollback happened (one line)."""
        self._good: tuple[dict[str, torch.Tensor], int] | None = None
        self.mark_good()

    def mark_good(self) -> None:
        """Remember the current state as the one to roll back to (after a resume, say)."""
        state = {k: v.detach().clone() for k, v in checkpoint_tensors(self).items()}
        self._good = (state, self.updates)

    def rollback(self, problem: str) -> None:
        """Return to the last good state (networks, optimizer moments, update count)."""
        state, updates = self._good
        load_checkpoint_into(self, state, "the last good state")
        self._graph = None  # loading replaced the optimizers' moments the capture reads
        self.updates = updates
        self.rollbacks += 1
        self.problem = problem

    def verify(self) -> bool:
        """Check every tensor: finite -> it becomes the last good state; else roll back to that.
        Returns False when it rolled back."""
        bad = nonfinite_tensors(checkpoint_tensors(self))
        if bad:
            self.rollback(f"non-finite values in {len(bad)} tensor(s), e.g. {bad[:3]}")
            return False
        self.mark_good()
        return True

    def _tensors(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(v, device=self.device) for k, v in batch.items()}

    def _metrics(self, inputs: dict[str, np.ndarray]) -> dict[str, float]:
        """One update's work on the device, op by op or as a replayed CUDA graph, and its
        diagnostics read back in one transfer."""
        if self.graph_problem or self._eager_updates < WARMUP_UPDATES:
            self._eager_updates += 1
            warming = nullcontext() if self.graph_problem else side_stream(self.device)
            with warming:
                names, values = self._update(self._tensors(inputs))
        else:
            if self._graph is None or not self._graph.fits(inputs):
                self._graph = GraphedStep(self._update, self._tensors(inputs))
            names, values = self._graph(inputs)
        return dict(zip(names, values.tolist(), strict=True))

    def _step(self, name: str, loss: torch.Tensor) -> None:
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def _imitation_loss(self, obs, action, task, demo) -> torch.Tensor:
        """Behaviour cloning at the steps marked in `demo` (actions the policy did not choose),
        with z drawn from the task's p(z|t), not the stored z: the skill the policy performs for
        that task is the one that should reproduce the demonstration."""
        rows = demo.bool()
        nets = self.nets
        with torch.no_grad():  # the embedding learns from its own loss only
            z_task = nets.latent.sample(nets.embedding(task[rows]))
        mean, _ = nets.policy(obs[rows], z_task)
        return losses.imitation_loss(torch.tanh(mean), action[rows])

    def update(self, batch: dict[str, np.ndarray], draws: tuple[np.ndarray, np.ndarray]):
        """One update from segments (ReplayBuffer.segment_arrays) and z-draw states.

        Returns a dict of float diagnostics, namespaced like "losses/critic"; an empty dict when
        the update was rolled back (a non-finite loss or parameter; see the module docstring).
        """
        inputs = {**batch, "draw_obs": draws[0], "draw_task": draws[1]}
        # agent.precision and agent.compile: this update only
        with layers_in(self.nets, self.cfg.precision, self._compiled):
            metrics = self._metrics(inputs)
        self.updates += 1
        bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
        if bad:
            self.rollback(f"non-finite {', '.join(bad[:3])} at update {self.updates}")
            return {}
        if self.updates % VERIFY_EVERY == 0 and not self.verify():
            return {}
        return metrics

    def _update(self, b: dict[str, torch.Tensor]) -> tuple[list[str], torch.Tensor]:
        """Every loss's step from the batch's tensors (and the z-draw states "draw_obs",
        "draw_task"); the diagnostics' names and their values in one tensor. Nothing in it
        reads a value back to the CPU, so it can run inside a CUDA graph (agent/cuda_graph.py),
        except what agent.normalize, agent.imitation and agent.anchor add (graph_problem)."""
        cfg, nets = self.cfg, self.nets
        mask = b["mask"]
        n = mask.sum().clamp(min=1)  # valid steps, for the logged means
        task = b["task"][:, None].expand_as(mask)
        # The critic may score a segment for another task (data/relabel.py); the policy and the
        # inference network always train on the task the segment was collected under.
        critic_task = b.get("critic_task", b["task"])[:, None].expand_as(mask)
        reward = b.get("critic_reward", b["reward"])
        obs, next_obs, action, z = b["obs"], b["next_obs"], b["action"], b["z"]
        if nets.policy.obs_norm is not None:  # agent.normalize: this batch's states count
            nets.policy.obs_norm.update(obs[mask.bool()])

        # Inference network: max likelihood of the replayed z given the trajectory window.
        obs_window = b["obs_window"]
        if cfg.inference_noise > 0:
            noise = torch.randn_like(obs_window) * b["window_valid"].unsqueeze(-1)
            obs_window = obs_window + cfg.inference_noise * noise
        log_q = nets.latent.log_prob(
            nets.inference(obs_window, b["action_window"], b["window_valid"]), z
        )
        inference_loss = losses.inference_loss(log_q, mask)

        # One policy pass on the replayed states serves the targets (detached) and, after the
        # critic's step (which leaves the policy's parameters alone), the policy's own loss.
        policy_out = nets.policy(obs, z)
        with torch.no_grad():
            mean, log_std = (t.detach() for t in policy_out)
            _, log_pi_sample = sample_tanh_gaussian(mean, log_std)
            r_hat = losses.augmented_reward(
                reward, log_q.detach(), -log_pi_sample, cfg.alpha2, cfg.alpha3
            )
            log_pi = tanh_gaussian_log_prob(atanh_clipped(action), mean, log_std)
            log_p_z = nets.latent.log_prob(nets.embedding(critic_task), z)
            c = losses.importance_weights(
                log_pi, log_p_z, b["log_b_a"], b["log_b_z"], cfg.retrace_lambda
            )
            # A step past the segment's valid end must not carry the trace: cut it there.
            c = c * mask
            next_action, _ = sample_tanh_gaussian(*nets.policy(next_obs, z))
            # The target critic scores the taken and the next actions in one pass.
            q_taken, v_next = nets.critic_target(
                torch.cat([obs, next_obs]),
                torch.cat([action, next_action]),
                torch.cat([z, z]),
                torch.cat([critic_task, critic_task]),
            ).chunk(2)
            discounts = cfg.gamma * (1.0 - b["terminal"].float())
            q_ret = retrace_targets(r_hat, discounts, q_taken, v_next, c)

        q = nets.critic(obs, action, z, critic_task)
        critic_loss = losses.critic_loss(q, q_ret, mask)
        self._step("critic", critic_loss)

        new_action, log_pi_new = sample_tanh_gaussian(*policy_out)
        with weights_fixed(nets.critic):
            q_new = nets.critic(obs, new_action, z, task)
        policy_loss = losses.policy_loss(q_new, log_pi_new, cfg.alpha3, mask)
        held_to = {}  # only a run that imitates or anchors pays for (and logs) those terms
        if cfg.imitation > 0:
            demo = b["intervention"].float() * mask
            loss = self._imitation_loss(obs, action, task, demo) if bool(demo.any()) else None
            if loss is not None:
                policy_loss = policy_loss + cfg.imitation * loss
            held_to = {
                "losses/imitation": torch.zeros(()) if loss is None else loss,
                "values/demo_share": demo.sum() / n,
            }
        if nets.anchor is not None:
            rows = mask.bool()
            with torch.no_grad():
                held, _ = nets.anchor(obs[rows], z[rows])
            anchor_loss = losses.imitation_loss(torch.tanh(policy_out[0][rows]), torch.tanh(held))
            # Over the valid steps, as the anchor's error: padding past an episode's end is not Q.
            weight = cfg.anchor * (q_new[rows].abs().mean().detach() if cfg.anchor_per_q else 1.0)
            policy_loss = policy_loss + weight * anchor_loss
            held_to["losses/anchor"] = anchor_loss
            held_to["values/anchor_weight"] = torch.as_tensor(weight)
        self._step("policy", policy_loss)

        if nets.latent.fixed:
            # The no-embedding ablation: z is a constant, so p(z|t) and q have nothing to learn
            # (log q and H are 0: no inference or entropy term reaches the reward either).
            embedding_loss = entropy = torch.zeros((), device=self.device)
        else:
            draw_obs, draw_task = b["draw_obs"], b["draw_task"]
            params = nets.embedding(draw_task)
            z_new = nets.latent.rsample(params)
            with weights_fixed(nets.policy, nets.critic):  # the embedding's loss moves phi only
                drawn_action, _ = sample_tanh_gaussian(*nets.policy(draw_obs, z_new))
                q_drawn = nets.critic(draw_obs, drawn_action, z_new, draw_task)
            entropy = nets.latent.entropy(params)
            embedding_loss = losses.embedding_loss(
                q_drawn, entropy, cfg.alpha1, self.hold_discount
            )
            self._step("embedding", embedding_loss)
            self._step("inference", inference_loss)

        with torch.no_grad():
            for p, tp in zip(
                nets.critic.parameters(), nets.critic_target.parameters(), strict=True
            ):
                tp.lerp_(p, cfg.tau)
        metrics = {
            "losses/critic": critic_loss,
            "losses/policy": policy_loss,
            "losses/embedding": embedding_loss,
            "losses/inference": inference_loss,
            **held_to,
            "values/q": (q * mask).sum() / n,
            "values/q_retrace": (q_ret * mask).sum() / n,
            "values/reward_augmented": (r_hat * mask).sum() / n,
            "values/log_q": (log_q * mask).sum() / n,
            "values/trace_c": (c * mask).sum() / n,
            "values/policy_entropy": -(log_pi_sample * mask).sum() / n,
            "values/embedding_entropy": entropy.mean(),
        }
        values = [v.to(self.device, torch.float32).reshape(()) for v in metrics.values()]
        return list(metrics), torch.stack(values)
