"""`Expression`: a parsed `when` text with its tree, references and compiled form."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rototo_operator.engine.expressions import ast
from rototo_operator.engine.expressions.errors import ExpressionFormatError, ExpressionSyntaxError
from rototo_operator.engine.expressions.parser import parse_tree

FORMAT = "rototo.expression/v1"


class _Missing:
    """The `entry` value when evaluation has no catalog entry (reads of it fail)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class EvalEnv:
    """What one evaluation reads: the request context, qualifier answers, and (for
    catalog filters) the entry under test."""

    context: Mapping[str, Any]
    qualifier: Callable[[str], bool]
    entry: Any = field(default=MISSING)


Predicate = Callable[[EvalEnv], bool]


class Expression:
    """A parsed expression. Build with `parse_expression` or `expression_from_json`."""

    __slots__ = ("_compiled", "_context_paths", "_qualifier_refs", "root", "source")

    def __init__(self, source: str, root: ast.Node) -> None:
        self.source = source
        self.root = root
        self._compiled: Predicate | None = None
        # Computed on first use: a compiled model's load rebuilds every expression and
        # never asks for them (lint and compile do).
        self._qualifier_refs: frozenset[str] | None = None
        self._context_paths: frozenset[tuple[str, ...]] | None = None

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return self.source == other.source and self.root == other.root

    def __hash__(self) -> int:
        return hash((self.source, self.root))

    def qualifier_refs(self) -> frozenset[str]:
        """Ids named by `qualifier["id"]` / `qualifier.id` anywhere in the expression."""
        if self._qualifier_refs is None:
            self._qualifier_refs = frozenset(
                node.qualifier_id
                for node in ast.walk(self.root)
                if isinstance(node, ast.QualifierNode)
            )
        return self._qualifier_refs

    def context_paths(self) -> frozenset[tuple[str, ...]]:
        """Context paths read anywhere (including under `has()` and skipped branches).

        The whole context (`context` alone) is the empty tuple."""
        if self._context_paths is None:
            self._context_paths = frozenset(
                node.segments
                for node in ast.walk(self.root)
                if isinstance(node, ast.PathNode) and node.root == "context"
            )
        return self._context_paths

    def entry_paths(self) -> frozenset[tuple[str, ...]]:
        """Catalog-entry paths (`entry.…`) read anywhere in the expression."""
        return frozenset(
            node.segments
            for node in ast.walk(self.root)
            if isinstance(node, ast.PathNode) and node.root == "entry"
        )

    def function_names(self) -> frozenset[str]:
        """Names of the functions called, so lint can report unknown ones early."""
        return frozenset(
            node.name for node in ast.walk(self.root) if isinstance(node, ast.CallNode)
        )

    def to_json(self) -> dict[str, Any]:
        """Canonical JSON: `{"format", "source", "ast"}`; `expression_from_json` inverts it."""
        return {"ast": ast.node_to_json(self.root), "format": FORMAT, "source": self.source}

    def compile(self) -> Predicate:
        """A callable answering the expression for one `EvalEnv` (built once, cached)."""
        if self._compiled is None:
            from rototo_operator.engine.expressions import compiler

            self._compiled = compiler.compile_predicate(self.root, self.source)
        return self._compiled

    def evaluate(self, env: EvalEnv) -> bool:
        """Evaluate once (compiles on first use)."""
        return self.compile()(env)


def parse_expression(source: str) -> Expression:
    """Parse a `when` expression; raise ExpressionSyntaxError (with `.offset`) if invalid."""
    if not isinstance(source, str):
        raise ExpressionSyntaxError("expression must be a string", 0)
    too_deep = ExpressionSyntaxError(
        f"expression is nested too deeply (more than {ast.MAX_DEPTH} levels)", 0
    )
    try:
        root = parse_tree(source)
    except RecursionError:
        raise too_deep from None
    if ast.depth(root) > ast.MAX_DEPTH:
        raise too_deep
    return Expression(source, root)


def expression_from_json(data: Any) -> Expression:
    """Rebuild an Expression from `Expression.to_json()` output, validating its shape."""
    if type(data) is dict and len(data) == 3 and "ast" in data:
        # The well-formed case in one step; anything else gets the checks below.
        source = data.get("source")
        if data.get("format") == FORMAT and type(source) is str:
            return Expression(source, ast.node_from_json(data["ast"]))
    if not isinstance(data, dict):
        raise ExpressionFormatError("stored expression must be a JSON object")
    if set(data) != {"ast", "format", "source"}:
        raise ExpressionFormatError(
            "stored expression must have exactly the keys ast, format, source"
        )
    if data["format"] != FORMAT:
        raise ExpressionFormatError(
            f"stored expression format {data['format']!r} is not {FORMAT!r}"
        )
    source = data["source"]
    if not isinstance(source, str):
        raise ExpressionFormatError("stored expression source must be a string")
    return Expression(source, ast.node_from_json(data["ast"]))
