"""Task suites by name: the built-in plug-ins, installed ones, and any file or module.

A suite name is one of
* a built-in suite ("reach", "push", "reach_transfer", "reach_force": the point mass; "jaco",
  "jaco_velocity": the Jaco arm and hand commanded by joint torques or joint velocities),
* a suite an installed package registers under the entry-point group `skill_embedding_ros.suites`
  (name = "module:ATTRIBUTE"), or
* "module.path:ATTRIBUTE" or "path/to/file.py:ATTRIBUTE" naming a TaskSuite instance directly,
  which is how a new robot is tried before it is packaged (and how the tests add a scene).

Every process of a graph resolves the same name, so a plug-in suite trains in process, through
the ROS 2 graph and from bags without an edit to the package.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path

from skill_embedding_ros.tasks.suite import TaskSuite

ENTRY_POINTS = "skill_embedding_ros.suites"
BUILT_IN = {"reach": "skill_embedding_ros.tasks.point_mass.suites:REACH",
            "push": "skill_embedding_ros.tasks.point_mass.suites:PUSH",
            "reach_force": "skill_embedding_ros.tasks.point_mass.suites:REACH_FORCE",
            "reach_transfer":
                "skill_embedding_ros.tasks.point_mass.transfer_tasks:REACH_TRANSFER",
            "jaco": "skill_embedding_ros.tasks.jaco.suites:JACO",
            "jaco_velocity": "skill_embedding_ros.tasks.jaco.suites:JACO_VELOCITY"}  # fmt: skip


def suite_names() -> list[str]:
    """Names of the built-in and installed suites (a "module:ATTRIBUTE" name is also valid)."""
    return sorted(set(BUILT_IN) | {e.name for e in entry_points(group=ENTRY_POINTS)})


@functools.cache
def get_suite(name: str) -> TaskSuite:
    """The suite called `name`; ValueError saying what exists when there is none."""
    installed = {e.name: e.value for e in entry_points(group=ENTRY_POINTS)}
    target = BUILT_IN.get(name) or installed.get(name) or name
    if ":" not in target:
        raise ValueError(
            f"unknown suite {name!r}; available: {suite_names()}, or 'module:ATTRIBUTE' / "
            "'file.py:ATTRIBUTE' naming a TaskSuite of a plug-in"
        )
    where, _, attribute = target.rpartition(":")
    try:
        suite = getattr(_load(where), attribute)
    except (ImportError, AttributeError, OSError, SyntaxError) as err:
        raise ValueError(f"suite {name!r}: cannot load {attribute} from {where}: {err}") from None
    if not isinstance(suite, TaskSuite):
        raise ValueError(f"suite {name!r}: {target} is a {type(suite).__name__}, not a TaskSuite")
    return suite


def _load(where: str):
    """A module by dotted name, or a Python file by path (loaded once per process)."""
    if not where.endswith(".py"):
        return importlib.import_module(where)
    path = Path(where).resolve()
    module_name = f"_skill_embedding_plugin_{abs(hash(str(path)))}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or not path.is_file():
        raise OSError(f"no Python file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return module
