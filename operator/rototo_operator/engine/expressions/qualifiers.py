"""Resolving qualifiers by id for one context: memoised, with cycle detection.

One `QualifierEvaluator` serves one resolution (one context): each qualifier is
evaluated at most once, and `qualifier["id"]` references inside `when` expressions are
answered through the same evaluator. A reference back to a qualifier still being
evaluated fails with the reference engine's message, `qualifier cycle detected at
qualifier://<id>`, as a QualifierCycleError whose `cycle` lists the whole loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rototo_operator.engine.expressions.errors import ExpressionEvalError, QualifierCycleError
from rototo_operator.engine.expressions.expression import MISSING, EvalEnv, Predicate


class QualifierEvaluator:
    """Answers qualifiers (by id) against one context."""

    __slots__ = ("_cache", "_env", "_predicates", "_stack")

    def __init__(
        self,
        predicates: Mapping[str, Predicate],
        context: Mapping[str, Any],
        *,
        entry: Any = MISSING,
    ) -> None:
        self._predicates = predicates
        self._cache: dict[str, bool] = {}
        self._stack: list[str] = []
        self._env = EvalEnv(context, self.resolve, entry)

    @property
    def env(self) -> EvalEnv:
        """An environment whose `qualifier` answers through this evaluator (e.g. for
        variable rules evaluated against the same context)."""
        return self._env

    def resolved(self) -> dict[str, bool]:
        """Every qualifier answered so far, by id."""
        return dict(self._cache)

    def resolve(self, qualifier_id: str) -> bool:
        """The qualifier's value for this context."""
        cached = self._cache.get(qualifier_id)
        if cached is not None:
            return cached
        if qualifier_id in self._stack:
            loop = (*self._stack[self._stack.index(qualifier_id) :], qualifier_id)
            raise QualifierCycleError(
                f"qualifier cycle detected at qualifier://{qualifier_id}", loop
            )
        predicate = self._predicates.get(qualifier_id)
        if predicate is None:
            raise ExpressionEvalError(f"qualifier not found: qualifier://{qualifier_id}")
        self._stack.append(qualifier_id)
        try:
            value = predicate(self._env)
        finally:
            self._stack.pop()
        self._cache[qualifier_id] = value
        return value
