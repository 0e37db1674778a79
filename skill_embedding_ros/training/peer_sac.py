"""Stable-Baselines3 SAC as a peer on the same work, measured with this project's evaluation.

One SAC policy serves every task of a run: the task id enters its observation as a one-hot, and
each training episode draws its task uniformly, as the trainer's envs do (`SuiteEnv.reset`
without a task). `SacActor` gives the trained policy ActorCore's interface (`begin`, `act`), so
the evaluation that scores our embedding scores SAC on the same episodes (same suite, tasks,
start states and metrics). SAC has no z: a decision's z is an [N, 0] array.

Weights are stored as safetensors plus a JSON of the settings; loading rebuilds the model and
loads the tensors. SB3's own zip is not used: loading it unpickles parts of the file.

Stable-Baselines3 is a benchmark dependency (requirements-bench.txt), imported only when a
model is built.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from skill_embedding_ros.agent.actor import Decision
from skill_embedding_ros.agent.checkpoint import check_finite, check_shapes
from skill_embedding_ros.agent.distributions import tanh_gaussian_log_prob
from skill_embedding_ros.settings.base import Settings, integer, number, sizes, torch_device
from skill_embedding_ros.settings.run import from_dict
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.tasks.suite import TaskSuite
from skill_embedding_ros.training.evaluate import Rollouts, evaluate_agent
from skill_embedding_ros.training.rollout import EVAL_SEED  # SAC meets our runs' start states

WEIGHTS = "sac_policy.safetensors"
SETTINGS = "sac.json"


def _sb3():
    try:
        import stable_baselines3
    except ImportError:
        raise ImportError(
            "Stable-Baselines3 is not installed; it is a benchmark dependency: "
            "pip install -r requirements-bench.txt"
        ) from None
    return stable_baselines3


@dataclass
class SacSettings(Settings):
    """SB3 SAC's arguments that a peer run sets; SB3's defaults except the network size."""

    net_arch: tuple[int, ...] = sizes((128, 128))
    """Hidden layers of the actor and of each critic: 2x128, as the configs behind our rows set
    agent.hidden and agent.critic_hidden; SB3's SAC default is 256, 256."""
    learning_rate: float = number(3e-4, "(0, 1]")
    """SB3's default, and the agent.lr of the configs behind our rows."""
    buffer_size: int = integer(1_000_000, ">= 1")
    """SB3's default: more than any run here, so nothing collected is forgotten."""
    batch_size: int = integer(256, ">= 1")
    """Transitions per gradient step (SB3's default)."""
    learning_starts: int = integer(100, ">= 0")
    """Env steps of uniform random actions before the first update (SB3's default; ours wait
    train.warmup_steps, acting with the untrained policy)."""
    train_freq: int = integer(1, ">= 1")
    """Env steps between updates (SB3's default: every step)."""
    gradient_steps: int = integer(1, ">= 1")
    """Updates each time. SB3's default makes one update of 256 transitions per env step; ours
    make train.updates_per_step (0.25 or 0.5) of replay.batch x replay.segment (32 x 10)."""
    gamma: float = number(0.99, "[0, 1)")
    """Discount per step: SB3's default and ours (agent.gamma)."""
    device: str = torch_device("cpu")
    """Torch device of SB3's networks; the CPU, as our rows train on one."""


# -- the task in the observation ------------------------------------------------------------


def with_task(obs: np.ndarray, task: np.ndarray | int, num_tasks: int) -> np.ndarray:
    """Observations [..., S] and task ids (broadcast over the leading dims) -> [..., S + T]
    float32, the task's one-hot appended: how SAC's one network tells tasks apart."""
    obs = np.asarray(obs, np.float32)
    onehot = np.eye(num_tasks, dtype=np.float32)[np.broadcast_to(task, obs.shape[:-1])]
    return np.concatenate([obs, onehot], -1)


class TaskOneHot(gym.Wrapper):
    """An env whose info["task"] names the episode's task id gets that task's one-hot appended to
    every observation. The wrapped env picks the task at reset (options={"task": i} or its own
    draw), so training draws tasks exactly as the wrapped env does."""

    def __init__(self, env: gym.Env, num_tasks: int):
        super().__init__(env)
        self.num_tasks = num_tasks
        box = env.observation_space
        low = np.concatenate([box.low, np.zeros(num_tasks)]).astype(np.float32)
        high = np.concatenate([box.high, np.ones(num_tasks)]).astype(np.float32)
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.task = 0

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.task = int(info["task"])
        return with_task(obs, self.task, self.num_tasks), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return with_task(obs, self.task, self.num_tasks), reward, terminated, truncated, info


def make_env(suite: str | TaskSuite, tasks: list[str], seed: int | None = None) -> TaskOneHot:
    return TaskOneHot(SuiteEnv(suite, tasks, seed=seed), len(tasks))


# -- training, saving, loading --------------------------------------------------------------


def build_sac(env: gym.Env, settings: SacSettings, seed: int):
    """An untrained SB3 SAC on `env` with `settings` (SB3's defaults for everything else:
    learned entropy coefficient with target -|A|, tau 0.005, no gSDE)."""
    s = settings
    return _sb3().SAC(
        "MlpPolicy",
        env,
        learning_rate=s.learning_rate,
        buffer_size=s.buffer_size,
        learning_starts=s.learning_starts,
        batch_size=s.batch_size,
        train_freq=s.train_freq,
        gradient_steps=s.gradient_steps,
        gamma=s.gamma,
        policy_kwargs={"net_arch": list(s.net_arch)},
        seed=seed,
        device=s.device,
        verbose=0,
    )


def train_sac(
    suite: str,
    tasks: list[str],
    env_steps: int,
    seed: int,
    settings: SacSettings | None = None,
    threads: int = 1,
):
    """SAC trained for `env_steps` steps of one env (a task drawn per episode). One torch thread
    by default, so two runs share a 2-core machine as our runs do. Returns (model, minutes)."""
    torch.set_num_threads(threads)
    model = build_sac(make_env(suite, tasks, seed), settings or SacSettings(), seed)
    start = time.perf_counter()
    model.learn(env_steps)
    return model, (time.perf_counter() - start) / 60


def policy_tensors(model) -> dict[str, torch.Tensor]:
    """The SAC policy's tensors (actor, critics, target critics) as a flat CPU dict."""
    return {k: v.detach().cpu().contiguous() for k, v in model.policy.state_dict().items()}


def save_sac(model, out_dir: str | Path, suite: str, tasks: list[str], meta: dict) -> Path:
    """out_dir/sac_policy.safetensors and out_dir/sac.json (suite, tasks, settings, `meta`).

    What is saved acts and evaluates; it does not resume training (the replay buffer, the
    optimizers and the entropy coefficient are not kept)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = policy_tensors(model)
    check_finite(tensors, "the SAC policy", "the run diverged; nothing was saved")
    save_file(tensors, out / WEIGHTS)
    info = {"suite": suite, "tasks": list(tasks), "settings": _settings_of(model), **meta}
    (out / SETTINGS).write_text(json.dumps(info, indent=1) + "\n")
    return out / WEIGHTS


def load_sac(run_dir: str | Path):
    """(model, info) rebuilt from save_sac's files: the settings make the networks, the
    safetensors fill them (names and shapes checked). Nothing is unpickled."""
    from safetensors.torch import load_file

    run = Path(run_dir)
    info = json.loads((run / SETTINGS).read_text())
    settings = from_dict(SacSettings, info["settings"], "settings")
    model = build_sac(make_env(info["suite"], info["tasks"], 0), settings, info.get("seed", 0))
    tensors = load_file(run / WEIGHTS)
    check_shapes(model.policy.state_dict(), tensors, str(run / WEIGHTS))
    check_finite(tensors, str(run / WEIGHTS))
    model.policy.load_state_dict(tensors)
    return model, info


def _settings_of(model) -> dict[str, Any]:
    """The SacSettings a model was built with, read back from the model itself."""
    return dataclasses.asdict(
        SacSettings(
            net_arch=tuple(model.policy_kwargs["net_arch"]),
            learning_rate=float(model.learning_rate),
            buffer_size=int(model.buffer_size),
            batch_size=int(model.batch_size),
            learning_starts=int(model.learning_starts),
            train_freq=int(model.train_freq.frequency),  # SB3 keeps (frequency, unit)
            gradient_steps=int(model.gradient_steps),
            gamma=float(model.gamma),
            device=str(model.device),
        )
    )


# -- ActorCore's interface ------------------------------------------------------------------


class SacActor:
    """A SAC policy behind ActorCore's interface, for `slots` parallel episodes.

    `begin(slot, task)` sets a slot's task; `act(obs [N, S])` returns a Decision whose action
    [N, A] in [-1, 1] is tanh of the policy mean (`deterministic`) or a tanh-Gaussian sample
    drawn with `generator` (so evaluation repeats for a seed, which SB3's predict does not
    promise), and whose z is [N, 0]: SAC has no embedding.
    """

    def __init__(
        self,
        model,
        num_tasks: int,
        slots: int,
        deterministic: bool = True,
        generator: torch.Generator | None = None,
    ):
        if model.policy.actor.use_sde:
            raise ValueError("SacActor samples SAC's plain tanh-Gaussian; gSDE is not supported")
        self.actor = model.policy.actor
        self.obs_dim = model.observation_space.shape[0]
        self.num_tasks = num_tasks
        self.deterministic = deterministic
        self.generator = generator if generator is not None else torch.Generator()
        self.task = np.zeros(slots, np.int64)

    def begin(self, slot: int, task: int) -> None:
        self.task[slot] = task

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> Decision:
        x = with_task(obs, self.task, self.num_tasks)
        if x.shape[-1] != self.obs_dim:
            raise ValueError(
                f"observation {obs.shape[-1]} + {self.num_tasks} tasks != the {self.obs_dim} "
                "inputs of this SAC policy (another suite or task list?)"
            )
        x = torch.as_tensor(x)
        mean, log_std, _ = self.actor.get_action_dist_params(x)
        n = len(obs)
        if self.deterministic:
            action, log_b_a = torch.tanh(mean), torch.full((n,), float("nan"))
        else:
            u = mean + log_std.exp() * torch.randn(mean.shape, generator=self.generator)
            action, log_b_a = torch.tanh(u), tanh_gaussian_log_prob(u, mean, log_std)
        return Decision(
            action=action.numpy().astype(np.float32),
            log_b_a=log_b_a.numpy().astype(np.float32),
            z=np.zeros((n, 0), np.float32),
            log_b_z=np.zeros(n, np.float32),
            z_drawn=np.zeros(n, bool),
        )


# -- evaluation -----------------------------------------------------------------------------


def evaluate_sac(
    model,
    suite: str | TaskSuite,
    tasks: list[str],
    episodes: int = 50,
    seed: int = EVAL_SEED,
    deterministic: bool = True,
    **scoring,
) -> tuple[dict, list[Rollouts]]:
    """Our evaluation's report (JSON-ready) and rollouts for a SAC model: the episodes, start
    states and scoring of `evaluate` (`scoring`: evaluate_agent's thresholds), with mean or
    sampled actions; no KL (no embedding). SAC's one "z" is empty, so its per-z rows describe
    the whole policy: how consistently it reaches its most common region."""
    suite = get_suite(suite) if isinstance(suite, str) else suite

    def make_agent(slots: int, agent_seed: int) -> SacActor:
        generator = torch.Generator().manual_seed(agent_seed)
        return SacActor(model, len(tasks), slots, deterministic, generator)

    report, rollouts = evaluate_agent(make_agent, suite, tasks, episodes, seed, **scoring)
    report["agent"] = "Stable-Baselines3 SAC"
    report["actions"] = "deterministic" if deterministic else "stochastic"
    return report, rollouts
