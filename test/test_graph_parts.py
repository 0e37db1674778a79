"""Parts of a graph: nodes started only for some argument values (`when:`), and a graph started
piece by piece on several machines (`skill-embedding launch --only`, docs/multi_host.md)."""

import pytest

from skill_embedding_ros.launch.graph import GraphError, load_graph


def _write(tmp_path, text: str):
    path = tmp_path / "g.yaml"
    path.write_text(text)
    return path


def test_a_node_with_when_starts_only_when_its_arguments_match(tmp_path):
    text = (
        "description: x\narguments:\n  mode: {default: evaluate, description: m, "
        "choices: [evaluate, explore]}\n  store: {default: true, description: s}\n"
        "nodes:\n  - executable: safety_gate\n  - executable: learner\n"
        "    when: {mode: explore, store: true}\n"
    )
    graph = load_graph(_write(tmp_path, text))
    assert [s.name for s in graph.resolve({})] == ["safety_gate"]
    assert [s.name for s in graph.resolve({"mode": "explore"})] == ["safety_gate", "learner"]
    assert [s.name for s in graph.resolve({"mode": "explore", "store": "false"})] == [
        "safety_gate"
    ]
    for bad, says in (
        ("{mod: explore}", "when: expected a mapping of argument names"),
        ("{mode: train}", "'train' is not one of"),
        ("[mode]", "when: expected a mapping"),
    ):
        with pytest.raises(GraphError, match=says):
            load_graph(_write(tmp_path, text.replace("{mode: explore, store: true}", bad)))


def test_only_starts_the_named_nodes_and_refuses_a_pattern_that_names_none(capsys):
    from skill_embedding_ros.launch.graph import find_graph, load_graph
    from skill_embedding_ros.launch.launcher import launch, select

    specs = load_graph(find_graph("train_sim")).resolve({"actors": "2"})
    assert [s.label for s in select(specs, "actor_*")] == [
        "actor_0/sim_bridge", "actor_1/sim_bridge", "actor_0/safety_gate",
        "actor_1/safety_gate", "actor_0/skill_policy", "actor_1/skill_policy",
    ]  # fmt: skip
    assert [s.label for s in select(specs, "learner, replay_recorder")] == [
        "replay_recorder", "learner",
    ]  # fmt: skip
    assert launch("train_sim", [], False, False, only="nobody") == 2
    assert "--only 'nobody' matches none of the graph's nodes" in capsys.readouterr().err
