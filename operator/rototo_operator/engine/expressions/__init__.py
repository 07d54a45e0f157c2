"""The rototo expression profile: parse, inspect, serialize and evaluate `when` texts.

Matches the reference engine `rototo==0.1.0a5` (grammar, helper semantics, error
wording); docs/expressions.md lists the profile and the parity notes. Pure Python, no
I/O. Evaluation compiles each tree once into closures.
"""

from __future__ import annotations

from rototo_operator.engine.expressions.errors import (
    ExpressionEvalError,
    ExpressionFormatError,
    ExpressionSyntaxError,
    QualifierCycleError,
)
from rototo_operator.engine.expressions.expression import (
    MISSING,
    EvalEnv,
    Expression,
    Predicate,
    expression_from_json,
    parse_expression,
)
from rototo_operator.engine.expressions.qualifiers import QualifierEvaluator

__all__ = [
    "MISSING",
    "EvalEnv",
    "Expression",
    "ExpressionEvalError",
    "ExpressionFormatError",
    "ExpressionSyntaxError",
    "Predicate",
    "QualifierCycleError",
    "QualifierEvaluator",
    "expression_from_json",
    "parse_expression",
]
