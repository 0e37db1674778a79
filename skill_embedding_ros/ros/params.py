"""ROS parameters from the core's config dataclasses: each field becomes a parameter with its
default and its docstring as the description, so defaults and units live in one place."""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import itertools
import textwrap
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor

from skill_embedding_ros.settings.run import from_dict


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (attribute docstrings, read from source)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _ros_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def declare(node, cls: type) -> Any:
    """Declare every field of dataclass `cls` on `node`; return `cls` filled from the values."""
    docs = field_docs(cls)
    values = {}
    for f in dataclasses.fields(cls):
        default = getattr(cls(), f.name)
        if dataclasses.is_dataclass(default):
            continue
        name = f.name
        # Dynamic typing lets `-p period:=2` stand for 2.0; from_dict then converts and checks.
        descriptor = ParameterDescriptor(description=docs.get(f.name, ""), dynamic_typing=True)
        param = node.declare_parameter(name, _ros_value(default), descriptor)
        values[f.name] = param.value
    try:
        return from_dict(cls, values, where=f"{node.get_name()} parameters")
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
