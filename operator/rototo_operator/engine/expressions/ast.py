"""The expression tree and its canonical JSON form.

Nodes are immutable. Literal values are JSON scalars exactly as the reference lexer
produced them (so a non-ASCII string literal keeps the reference's byte-per-character
reading, see docs/expressions.md). Numbers keep their int/float distinction, which
matters for `bucket()` (integers only) and for the canonical text hashed by it.

JSON shape of a node (one key names the kind):

    {"lit": null | bool | int | float | str}
    {"list": [node, ...]}
    {"path": [segment, ...], "root": "context" | "entry"}
    {"qualifier": id}
    {"not": node}
    {"any": [node, node, ...]}      a chain `a || b || …` (left to right, short-circuit)
    {"all": [node, node, ...]}      a chain `a && b && …`
    {"op": "==" | "!=" | "<" | "<=" | ">" | ">=" | "in", "left": node, "right": node}
    {"call": name, "args": [node, ...]}

`||`/`&&` chains are kept flat, so a long list of alternatives does not make a deep
tree; other nesting is limited to MAX_DEPTH levels (parse and load both enforce it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from rototo_operator.engine.expressions.errors import ExpressionFormatError

Scalar: TypeAlias = bool | int | float | str | None
PathRoot: TypeAlias = Literal["context", "entry"]
BinaryOp: TypeAlias = Literal["==", "!=", "<", "<=", ">", ">=", "in"]
LogicalOp: TypeAlias = Literal["||", "&&"]

BINARY_OPS: frozenset[str] = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})
_LOGICAL_KEYS: dict[str, LogicalOp] = {"any": "||", "all": "&&"}
PATH_ROOTS: frozenset[str] = frozenset({"context", "entry"})

# The reference keeps integers as i64 or u64; wider literals are rejected at parse time.
INT_MIN = -(2**63)
UINT_MAX = 2**64 - 1

# Bounded so that a corrupt or hostile document cannot exhaust the stack.
MAX_DEPTH = 200


@dataclass(frozen=True, slots=True)
class LiteralNode:
    value: Scalar


@dataclass(frozen=True, slots=True)
class ListNode:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class PathNode:
    root: PathRoot
    segments: tuple[str, ...]

    def dotted(self) -> str:
        """The path as the reference names it in messages: `context.a.b` (a bare root
        reads `entry.`, with the dot, as the reference prints it)."""
        return f"{self.root}.{'.'.join(self.segments)}"


@dataclass(frozen=True, slots=True)
class QualifierNode:
    qualifier_id: str


@dataclass(frozen=True, slots=True)
class NotNode:
    operand: Node


@dataclass(frozen=True, slots=True)
class LogicalNode:
    """`a || b || …` or `a && b && …`: two or more operands, evaluated left to right."""

    op: LogicalOp
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class BinaryNode:
    op: BinaryOp
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class CallNode:
    name: str
    args: tuple[Node, ...]


Node: TypeAlias = (
    LiteralNode
    | ListNode
    | PathNode
    | QualifierNode
    | NotNode
    | LogicalNode
    | BinaryNode
    | CallNode
)


def children(node: Node) -> tuple[Node, ...]:
    """Direct sub-expressions, in source order."""
    if isinstance(node, ListNode):
        return node.items
    if isinstance(node, NotNode):
        return (node.operand,)
    if isinstance(node, LogicalNode):
        return node.operands
    if isinstance(node, BinaryNode):
        return (node.left, node.right)
    if isinstance(node, CallNode):
        return node.args
    return ()


def depth(node: Node) -> int:
    """Levels in the tree (a leaf is 1), computed without recursion."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children(current))
    return deepest


def walk(node: Node) -> list[Node]:
    """Every node, parents before children (iterative: trees may be deep)."""
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(children(current)))
    return out


def node_to_json(node: Node) -> Any:
    """The canonical JSON value of a node (see the module docstring)."""
    if isinstance(node, LiteralNode):
        return {"lit": node.value}
    if isinstance(node, ListNode):
        return {"list": [node_to_json(item) for item in node.items]}
    if isinstance(node, PathNode):
        return {"path": list(node.segments), "root": node.root}
    if isinstance(node, QualifierNode):
        return {"qualifier": node.qualifier_id}
    if isinstance(node, NotNode):
        return {"not": node_to_json(node.operand)}
    if isinstance(node, LogicalNode):
        key = "any" if node.op == "||" else "all"
        return {key: [node_to_json(operand) for operand in node.operands]}
    if isinstance(node, BinaryNode):
        return {"left": node_to_json(node.left), "op": node.op, "right": node_to_json(node.right)}
    return {"args": [node_to_json(arg) for arg in node.args], "call": node.name}


class _Invalid(Exception):
    """The fast reader met something it does not accept; the checking reader says why."""


_PLAIN_LITERALS = frozenset({str, bool, type(None)})


def _fast_node(data: Any, depth: int) -> Node:
    """`node_from_json` for well-formed input, without building error locations.

    Accepts exactly what `_checked_node` accepts when values have their exact JSON types
    (as `json.loads` produces); anything else raises `_Invalid`, and the caller rereads
    with `_checked_node` for the precise message (or for its subclass handling)."""
    if depth > MAX_DEPTH or type(data) is not dict:
        raise _Invalid
    size = len(data)
    if size == 1:
        if "lit" in data:
            value = data["lit"]
            kind = type(value)
            if kind in _PLAIN_LITERALS:
                return LiteralNode(value)
            if kind is int and INT_MIN <= value <= UINT_MAX:
                return LiteralNode(value)
            if kind is float and math.isfinite(value):
                return LiteralNode(value)
            raise _Invalid
        if "qualifier" in data:
            qualifier_id = data["qualifier"]
            if type(qualifier_id) is not str:
                raise _Invalid
            return QualifierNode(qualifier_id)
        if "not" in data:
            return NotNode(_fast_node(data["not"], depth + 1))
        if "list" in data:
            return ListNode(_fast_list(data["list"], depth))
        for key, op in _LOGICAL_KEYS.items():
            if key in data:
                operands = _fast_list(data[key], depth)
                if len(operands) < 2:
                    raise _Invalid
                return LogicalNode(op, operands)
        raise _Invalid
    if size == 3 and "op" in data and "left" in data and "right" in data:
        op = data["op"]
        if type(op) is not str or op not in BINARY_OPS:
            raise _Invalid
        return BinaryNode(
            op,  # type: ignore[arg-type]  # checked against BINARY_OPS just above
            _fast_node(data["left"], depth + 1),
            _fast_node(data["right"], depth + 1),
        )
    if size == 2:
        if "path" in data and "root" in data:
            root = data["root"]
            segments = data["path"]
            if (
                type(root) is not str
                or root not in PATH_ROOTS
                or type(segments) is not list
                or not all(type(segment) is str for segment in segments)
            ):
                raise _Invalid
            return PathNode(root, tuple(segments))  # type: ignore[arg-type]  # checked
        if "call" in data and "args" in data:
            name = data["call"]
            if type(name) is not str or not name:
                raise _Invalid
            return CallNode(name, _fast_list(data["args"], depth))
    raise _Invalid


def _fast_list(data: Any, depth: int) -> tuple[Node, ...]:
    if type(data) is not list:
        raise _Invalid
    return tuple([_fast_node(item, depth + 1) for item in data])


def node_from_json(data: Any, where: str = "$", depth: int = 0) -> Node:
    """Rebuild a node, checking every field; `where` names the spot in errors."""
    try:
        return _fast_node(data, depth)
    except _Invalid:
        return _checked_node(data, where, depth)


def _checked_node(data: Any, where: str, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise ExpressionFormatError(f"expression tree at {where} is nested too deeply")
    if not isinstance(data, dict):
        raise ExpressionFormatError(f"expression node at {where} must be an object")
    keys = frozenset(data)
    if keys == {"lit"}:
        return LiteralNode(_literal_from_json(data["lit"], f"{where}.lit"))
    if keys == {"list"}:
        items = _node_list(data["list"], f"{where}.list", depth)
        return ListNode(items)
    if keys == {"path", "root"}:
        root = data["root"]
        if root not in PATH_ROOTS:
            raise ExpressionFormatError(f'{where}.root must be "context" or "entry"')
        segments = data["path"]
        if not isinstance(segments, list) or not all(isinstance(s, str) for s in segments):
            raise ExpressionFormatError(f"{where}.path must be a list of strings")
        return PathNode(root, tuple(segments))
    if keys == {"qualifier"}:
        qualifier_id = data["qualifier"]
        if not isinstance(qualifier_id, str):
            raise ExpressionFormatError(f"{where}.qualifier must be a string")
        return QualifierNode(qualifier_id)
    if keys == {"not"}:
        return NotNode(_checked_node(data["not"], f"{where}.not", depth + 1))
    if len(keys) == 1 and next(iter(keys)) in _LOGICAL_KEYS:
        (key,) = keys
        operands = _node_list(data[key], f"{where}.{key}", depth)
        if len(operands) < 2:
            raise ExpressionFormatError(f"{where}.{key} must list at least two operands")
        return LogicalNode(_LOGICAL_KEYS[key], operands)
    if keys == {"op", "left", "right"}:
        op = data["op"]
        if op not in BINARY_OPS:
            raise ExpressionFormatError(f"{where}.op is not a known operator: {op!r}")
        return BinaryNode(
            op,
            _checked_node(data["left"], f"{where}.left", depth + 1),
            _checked_node(data["right"], f"{where}.right", depth + 1),
        )
    if keys == {"call", "args"}:
        name = data["call"]
        if not isinstance(name, str) or not name:
            raise ExpressionFormatError(f"{where}.call must be a function name")
        return CallNode(name, _node_list(data["args"], f"{where}.args", depth))
    raise ExpressionFormatError(
        f"expression node at {where} has an unknown shape (keys: {sorted(map(str, keys))})"
    )


def _node_list(data: Any, where: str, depth: int) -> tuple[Node, ...]:
    if not isinstance(data, list):
        raise ExpressionFormatError(f"{where} must be a list")
    return tuple(_checked_node(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(data))


def _literal_from_json(value: Any, where: str) -> Scalar:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not INT_MIN <= value <= UINT_MAX:
            raise ExpressionFormatError(f"{where} is outside the 64-bit integer range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionFormatError(f"{where} must be a finite number")
        return value
    raise ExpressionFormatError(f"{where} must be a JSON scalar")
