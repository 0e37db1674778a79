"""A graph whose nodes disagree on their suite's facts is refused before anything starts, with
the argument to fix; one that agrees resolves."""

import pytest

from skill_embedding_ros.launch.graph import GraphError, find_graph, load_graph

TRAIN = load_graph(find_graph("train_sim"))


@pytest.mark.parametrize(
    "values, says",
    [
        (
            {"suite": "jaco", "config": "jaco_smoke.yaml", "interface": "velocity"},
            "pass interface:=torque",
        ),
        ({"suite": "jaco", "config": "jaco_smoke.yaml", "period": "0.1"}, "pass period:=0.05"),
        ({"suite": "jaco", "interface": "torque", "period": "0.05"}, "pass suite:=reach"),
        ({"interface": "torque"}, "pass interface:=velocity"),
    ],
)
def test_disagreeing_nodes_are_refused_naming_the_argument(values, says):
    with pytest.raises(GraphError, match=says):
        TRAIN.resolve(values)


def test_agreeing_nodes_resolve():
    jaco = {"suite": "jaco", "config": "jaco_smoke.yaml", "interface": "torque", "period": "0.05"}
    for values in ({}, jaco):
        assert any(s.executable == "safety_gate" for s in TRAIN.resolve(values))


@pytest.mark.parametrize(
    "suite, config, interface, period",
    [
        ("reach", "reach_bernoulli.yaml", "velocity", 0.1),
        ("jaco", "jaco_smoke.yaml", "torque", 0.05),
    ],
)
def test_auto_takes_the_suites_interface_and_period(suite, config, interface, period):
    gates = [
        s
        for s in TRAIN.resolve({"suite": suite, "config": config})
        if s.executable == "safety_gate"
    ]
    assert gates and all(
        (g.parameters["command_interface"], g.parameters["control_period"]) == (interface, period)
        for g in gates
    )
