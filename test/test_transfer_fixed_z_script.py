"""scripts/transfer_fixed_z.py: its candidates, episodes run with one z held, and the summary
it draws from them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skill_embedding_ros.agent.actor import ActorCore
from skill_embedding_ros.training.rollout import rollout_agent
from test.script_modules import load_script
from test.test_transfer import SUITE, _skills

SCRIPT = load_script("transfer_fixed_z")


def test_candidates_are_each_tasks_centre_then_its_draws_then_standard_normal_draws():
    skills = _skills()  # three tasks, z of 2
    with torch.no_grad():
        skills.embedding.linear.bias.copy_(torch.tensor([0.5, -1.0, -9.0, -9.0]))
    named = SCRIPT.candidates(skills, draws=2, random=3, seed=0)
    names = [n for n, _ in named]
    assert len(named) == 3 + 3 * 2 + 3
    assert names[:3] == ["goal_0 centre", "goal_1 centre", "goal_0 centre"]
    assert names[3:5] == ["goal_0 draw 0", "goal_0 draw 1"] and names[-1] == "N(0, I) draw 2"
    assert named[0][1].tolist() == [0.5, -1.0]  # the mean of p(z|t)
    # The tasks' draws lie within a hair of their centres (std e^-5 at the bound), the
    # standard normal's do not.
    assert np.allclose(named[3][1], [0.5, -1.0], atol=0.05)
    assert not np.allclose(named[-1][1], [0.5, -1.0], atol=0.05)


def test_a_held_z_is_the_one_every_step_acts_under():
    skills = _skills()
    z = np.array([0.3, -0.7], np.float32)
    seen = []
    agent = ActorCore(
        SCRIPT.HeldZ(z), skills.acting_policy(SUITE), 3, 2, 0, True, torch.Generator()
    )
    rollout_agent(agent, SUITE, ["between"], 0, 3, 0, watch=lambda e, o, d: seen.append(d))
    decided = np.stack([d.z for d in seen if d is not None])
    assert decided.shape == (SUITE.episode_steps, 3, 2) and np.all(decided == z)
    success, returns = SCRIPT.held_outcomes(skills, SUITE, "between", z, 3)
    assert success.shape == returns.shape == (3,) and success.dtype == bool


def test_summary_of_candidates_by_starts():
    success = np.array([[1, 0, 0], [1, 1, 0]], bool)
    report = SCRIPT.summarize(["a", "b"], success, np.array([[0.0, 2.0, 4.0], [0.0, 2.0, 4.0]]))
    assert report["best_candidate"] == "b" and report["best_candidate_success"] == pytest.approx(
        2 / 3, abs=1e-3
    )
    assert report["success_mean_over_candidates"] == 0.5
    assert report["starts_solved_by_some_candidate"] == pytest.approx(2 / 3, abs=1e-3)
    assert report["candidates_solving_each_start"] == [2, 1, 0]
    # Same returns for both candidates: none of the variance lies between them; all of it when
    # each candidate's returns are constant.
    assert report["return_variance_between_candidates"] == 0.0
    apart = SCRIPT.summarize(["a", "b"], success, np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]]))
    assert apart["return_variance_between_candidates"] == 1.0
