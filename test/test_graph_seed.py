"""The graph's `seed:=` reaches every process it starts, the learner included (issue 14): the
learner trains with train.seed = seed and its run directory records it. Checked at the level of
the graph description and the learner's own settings, without starting ROS."""

import pytest
import yaml

from skill_embedding_ros.launch.graph import find_graph, load_graph
from skill_embedding_ros.settings import nodes
from skill_embedding_ros.settings.base import from_dict
from skill_embedding_ros.training.run_log import RunLog


@pytest.mark.parametrize("seed", [0, 3])
def test_the_graph_seed_reaches_the_learner(seed, tmp_path):
    """`seed:=` seeds the learner's run (train.seed), not only the actors and bridges, and the
    run directory's config.yaml records it: each graph row's learner follows its seed."""
    specs = load_graph(find_graph("train_sim")).resolve({"seed": str(seed)})
    learner = next(s for s in specs if s.executable == "learner")
    assert learner.parameters["seed"] == seed
    params = from_dict(nodes.LearnerNodeConfig, learner.parameters, "learner parameters")
    run = params.run_config()  # what ros/learner_node.py trains
    assert run.train.seed == seed
    log = RunLog(tmp_path, run)
    log.close()
    recorded = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert recorded["train"]["seed"] == seed


def test_a_learner_without_a_seed_keeps_its_run_configs(tmp_path):
    (tmp_path / "run.yaml").write_text("train: {seed: 7}\n")
    assert nodes.LearnerNodeConfig(config=str(tmp_path / "run.yaml")).run_config().train.seed == 7
    with_seed = nodes.LearnerNodeConfig(config=str(tmp_path / "run.yaml"), seed=2)
    assert with_seed.run_config().train.seed == 2
