"""The paper's settings are the defaults; the tuned configs state each departure from them, and
the paper's settings run beside every tuned reach row (issue 14)."""

import importlib.util
from pathlib import Path

import pytest
import yaml

from skill_embedding_ros.settings.run import CONFIG_DIR, AgentConfig, load_run_config, to_dict

REPO = Path(__file__).resolve().parents[1]
PAPER_NETS = {"hidden": (100, 100), "critic_hidden": (200, 200), "lr": 1e-4}
PAPER_ALPHAS = {"alpha1": 1e-4, "alpha2": 1e-5, "alpha3": 1e-4}
TUNED_NETS = {"hidden": [128, 128], "critic_hidden": [128, 128], "lr": 3e-4}
TUNED = [
    "reach_bernoulli.yaml",
    "reach_gaussian.yaml",
    "reach_tasks.yaml",
    "push_bernoulli.yaml",
    "reach_gaussian_paper_q.yaml",
    "reach_no_embedding.yaml",
]
PAPER_BESIDE = {  # the paper's settings run -> the tuned row it runs beside
    "paper/reach_bernoulli.yaml": "reach_bernoulli.yaml",
    "paper/reach_gaussian.yaml": "reach_gaussian.yaml",
    "paper/reach_tasks.yaml": "reach_tasks.yaml",
}


def _differences(a: str, b: str) -> dict[str, tuple]:
    """section.key -> (value in a, value in b) where two run configs differ."""
    x, y = to_dict(load_run_config(a)), to_dict(load_run_config(b))
    return {f"{s}.{k}": (x[s][k], y[s][k]) for s in x for k in x[s] if x[s][k] != y[s][k]}


def test_the_defaults_are_the_papers():
    agent = AgentConfig()
    assert {k: getattr(agent, k) for k in PAPER_NETS} == PAPER_NETS


@pytest.mark.parametrize("name", TUNED)
def test_a_tuned_config_states_its_departures_in_its_file(name):
    """Written out in the file, not inherited: the tuned rows keep producing what they did
    whatever the defaults become."""
    text = (CONFIG_DIR / name).read_text()
    agent = yaml.safe_load(text)["agent"]
    assert {k: agent.get(k) for k in TUNED_NETS} == TUNED_NETS
    assert "Departures from the paper" in text
    cfg = load_run_config(name).agent
    assert (cfg.hidden, cfg.critic_hidden, cfg.lr) == ((128, 128), (128, 128), 3e-4)


@pytest.mark.parametrize("paper, tuned", PAPER_BESIDE.items())
def test_a_paper_settings_run_differs_from_its_row_only_in_the_papers_settings(paper, tuned):
    differ = _differences(paper, tuned)
    assert set(differ) == {f"agent.{k}" for k in [*PAPER_NETS, *PAPER_ALPHAS]}, differ
    got = {k.split(".")[1]: v[0] for k, v in differ.items()}
    assert got == {**PAPER_NETS, **PAPER_ALPHAS}


def test_the_gaussian_with_the_papers_q_is_like_for_like_with_the_bernoulli_row():
    differ = _differences("reach_gaussian_paper_q.yaml", "reach_bernoulli.yaml")
    # code_scale only scales Bernoulli bits (networks.z_features): nothing to match.
    assert set(differ) == {"agent.embedding", "agent.code_scale"}, differ
    q = load_run_config("reach_gaussian_paper_q.yaml").agent
    assert (q.inference_actions, q.history, q.inference_noise) == (True, 4, 0.0)


def test_the_state_only_gaussian_stays_the_named_variant():
    agent = load_run_config("reach_gaussian.yaml").agent
    assert (agent.inference_actions, agent.history, agent.inference_noise) == (False, 1, 0.25)


def test_the_experiment_grid_names_every_new_config():
    spec = importlib.util.spec_from_file_location(
        "run_experiments", REPO / "scripts" / "run_experiments.py"
    )
    grid = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grid)
    configs = {config for config, _ in grid.EXPERIMENTS.values()}
    assert {*PAPER_BESIDE, "reach_gaussian_paper_q.yaml", "reach_no_embedding.yaml"} <= configs
    for config in configs:
        load_run_config(config)  # each exists and validates
    # The split row: the paper's networks and rate with the tuned alphas, nothing else changed.
    config, overrides = grid.EXPERIMENTS["reach_bernoulli_paper_nets"]
    split = to_dict(load_run_config(config, tuple(overrides)))["agent"]
    tuned = to_dict(load_run_config(config))["agent"]
    assert {k: v for k, v in split.items() if tuned[k] != v} == PAPER_NETS
