"""What the nodes of one resolved graph must agree on, checked before anything starts.

A graph names the same facts in several nodes' parameters: the suite a bridge simulates, the
command interface and control period its safety gate assumes, the suite the learner's run config
trains. Each node is right on its own, and a mismatch shows only at run time, as a gate that
refuses every command (it reads velocities out of effort commands) or a bridge that refuses every
reset (a task its suite does not have). So `check_agreement` compares them against the suite's
own facts and names the argument to fix.

Better still, a graph need not name those facts at all: a gate parameter given as `auto` takes
the suite's value (`suite_facts`) from the graph's `suite` argument, which the bridges simulate
(or the arm is, in a hardware graph).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from skill_embedding_ros.robots.ros2_control import load_robot
from skill_embedding_ros.settings.nodes import ArmDriverConfig, BridgeConfig, GateConfig
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.settings.transfer import load_transfer_file
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.transfer.skills import transfer_suite


class AgreementError(ValueError):
    """Nodes of a graph disagree on a fact of their suite."""


AUTO = "auto"
SUITE_FACTS = {
    ("safety_gate", "command_interface"): "actuator",
    ("safety_gate", "control_period"): "control_period",
}
"""(executable, parameter) -> the suite's attribute an `auto` value stands for."""


def suite_facts(executable: str, parameters: dict, suite_name: str | None) -> dict:
    """`parameters` with each `auto` value of SUITE_FACTS replaced by the suite's fact."""
    filled = dict(parameters)
    for key, value in parameters.items():
        fact = SUITE_FACTS.get((executable, key))
        if fact is None or value != AUTO:
            continue
        if suite_name is None:
            raise AgreementError(
                f"{executable}.{key} is `auto` (the suite's) but the graph names no suite"
            )
        filled[key] = getattr(get_suite(suite_name), fact)
    return filled


def check_agreement(specs: Sequence) -> None:
    """Raise AgreementError naming what disagrees. `specs`: the graph's NodeSpecs."""
    default = BridgeConfig().suite
    bridges = {  # namespace -> the suite its robot is: a simulated one, or an arm's model
        s.namespace: s.parameters.get("suite", default)
        for s in specs
        if s.executable == "sim_bridge"
    }
    for spec in specs:
        if spec.executable == "arm_driver":
            bridges[spec.namespace] = load_robot(
                spec.parameters.get("robot", ArmDriverConfig().robot)
            ).suite
    for spec in specs:
        suite_name = bridges.get(spec.namespace)
        if spec.executable == "safety_gate" and suite_name is not None:
            _check_gate(spec, suite_name)
        if spec.executable == "learner":
            _check_learner(spec, set(bridges.values()))


def _check_learner(spec, simulated: set[str]) -> None:
    """The suite a learner trains (its run config's, or its transfer run's) is simulated."""
    if spec.parameters.get("transfer"):
        what = f"the transfer run {spec.parameters['transfer']!r}"
        trained = transfer_suite(load_transfer_file(spec.parameters["transfer"]))
    elif "config" in spec.parameters:
        what = f"the run config {spec.parameters['config']!r}"
        trained = load_run_config(spec.parameters["config"], host=False).train.suite
    else:
        return
    for name in sorted(simulated):
        if get_suite(trained) is not get_suite(name):
            raise AgreementError(
                f"the bridges simulate suite {name!r} but {what} trains suite {trained!r}: "
                f"pass suite:={trained}"
            )


def _check_gate(spec, suite_name: str) -> None:
    suite = get_suite(suite_name)
    interface = spec.parameters.get("command_interface", GateConfig().command_interface)
    period = spec.parameters.get("control_period", GateConfig().control_period)
    where = f"{spec.label}: suite {suite_name!r}"
    if interface != suite.actuator:
        raise AgreementError(
            f"{where} takes {suite.actuator} commands but its safety gate is set for "
            f"{interface} commands: pass interface:={suite.actuator} (or auto)"
        )
    if not math.isclose(period, suite.control_period):
        raise AgreementError(
            f"{where} steps every {suite.control_period:g} s but its safety gate counts "
            f"{period:g} s per period: pass period:={suite.control_period:g} (or auto)"
        )
