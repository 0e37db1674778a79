"""The substitution language of graph descriptions (launch/graph.py): `{expression}` in a
parameter value, over the graph's arguments, `i` (the actor index), integers and + - *.
Nothing else is evaluated: a graph file is data, not code."""

from __future__ import annotations

import ast
import operator
import re
from typing import Any

_FIELD = re.compile(r"\{([^{}]*)\}")
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


class GraphError(ValueError):
    """A graph description or an argument value is wrong; the message says where and why."""


def substitute(value: Any, scope: dict[str, Any], where: str) -> Any:
    if isinstance(value, list):  # e.g. a position [x, y, z] from three arguments
        return [substitute(item, scope, f"{where}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, str):
        return value
    whole = _FIELD.fullmatch(value)
    if whole:
        return _evaluate(whole.group(1), scope, where)
    result = _FIELD.sub(lambda m: text(_evaluate(m.group(1), scope, where)), value)
    if "{" in result or "}" in result:
        raise GraphError(f"{where}: unbalanced braces in {value!r}")
    return result


def text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _evaluate(expression: str, scope: dict[str, Any], where: str) -> Any:
    """`{expression}`: names from `scope`, integer literals, + - *; nothing else."""
    allowed = "argument names, integers and + - *"

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Name):
            if node.id not in scope:
                known = "known: " + ", ".join(sorted(scope))
                raise GraphError(f"{where}: unknown name {node.id!r} in {{{expression}}}; {known}")
            return scope[node.id]
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = walk(node.left), walk(node.right)
            if not all(type(v) is int for v in (left, right)):
                raise GraphError(f"{where}: arithmetic in {{{expression}}} needs int values")
            return _OPERATORS[type(node.op)](left, right)
        raise GraphError(f"{where}: {{{expression}}} may only hold {allowed}")

    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise GraphError(f"{where}: {{{expression}}} is not an expression of {allowed}") from None
    return walk(tree.body)
