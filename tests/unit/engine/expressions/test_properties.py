"""Property tests: JSON round trip, bucket range, and evaluation never escaping its errors."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rototo_operator.engine.expressions import (
    EvalEnv,
    ExpressionEvalError,
    ExpressionSyntaxError,
    expression_from_json,
    parse_expression,
)
from rototo_operator.engine.expressions.helpers import bucket as bucket_helper

SEGMENTS = st.sampled_from(["a", "b", "user", "id", "tier", "x-y", "n"])
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    # Lone surrogates too: json.loads accepts "\\ud800", so a context may carry one.
    st.text(alphabet=st.characters(exclude_categories=()), max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(SEGMENTS, st.text(max_size=4)), children, max_size=4),
    ),
    max_leaves=12,
)
contexts = st.dictionaries(st.one_of(SEGMENTS, st.text(max_size=4)), json_values, max_size=5)


def _string_literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


literals = st.one_of(
    st.sampled_from(["true", "false", "null", "0", "-1", "2.5", "1e3", "18446744073709551615"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\t\b\f"), max_size=6).map(
        _string_literal
    ),
)
paths = st.lists(SEGMENTS, min_size=0, max_size=3).map(
    lambda segments: "context" + "".join(f".{s}" for s in segments)
)
HELPERS = [
    ("has", 1),
    ("prefix", 2),
    ("suffix", 2),
    ("contains", 2),
    ("regex", 2),
    ("glob", 2),
    ("semver", 2),
    ("time_after", 2),
    ("time_between", 3),
    ("cidr", 2),
    ("bucket", 4),
    ("size", 1),
    ("path", 2),
    ("present", 2),
    ("unknown", 1),
]


def expressions() -> st.SearchStrategy[str]:
    atoms = st.one_of(literals, paths, st.sampled_from(['qualifier["q"]', "qualifier.r"]))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(
            inner, st.sampled_from(["&&", "||", "==", "!=", "<", "<=", ">", ">=", "in"]), inner
        ).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
        negation = inner.map(lambda e: f"!{e}")
        listing = st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]")
        call = st.sampled_from(HELPERS).flatmap(
            lambda helper: st.lists(inner, min_size=helper[1], max_size=helper[1]).map(
                lambda args: f"{helper[0]}({', '.join(args)})"
            )
        )
        return st.one_of(binary, negation, listing, call)

    return st.recursive(atoms, extend, max_leaves=10)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(expressions())
def test_json_round_trip(text: str) -> None:
    expression = parse_expression(text)
    data = json.loads(json.dumps(expression.to_json()))
    again = expression_from_json(data)
    assert again == expression
    assert again.to_json() == expression.to_json()
    assert again.context_paths() == expression.context_paths()
    assert again.qualifier_refs() == expression.qualifier_refs()


@settings(max_examples=300)
@given(st.text(max_size=20), json_values)
def test_bucket_is_in_range_and_deterministic(salt: str, value: Any) -> None:
    first = bucket_helper.bucket_value(salt, value)
    assert 0 <= first < 10_000
    assert bucket_helper.bucket_value(salt, value) == first


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), contexts, st.booleans())
def test_evaluation_raises_only_expression_errors(
    text: str, context: dict[str, Any], answer: bool
) -> None:
    predicate = parse_expression(text).compile()
    try:
        result = predicate(EvalEnv(context, lambda _id: answer))
    except ExpressionEvalError:
        return
    assert result is True or result is False


@settings(max_examples=500)
@given(st.text(max_size=30))
def test_parser_raises_only_syntax_errors(text: str) -> None:
    offset = 0
    try:
        parse_expression(text)
    except ExpressionSyntaxError as error:
        offset = error.offset
    assert 0 <= offset <= len(text)
