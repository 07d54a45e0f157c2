"""Evaluation: operators, JSON value semantics, short-circuiting, errors, qualifiers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rototo_operator.engine.expressions import (
    MISSING,
    EvalEnv,
    ExpressionEvalError,
    QualifierCycleError,
    QualifierEvaluator,
    parse_expression,
)
from rototo_operator.errors import ResolutionError

CONTEXT: dict[str, Any] = {
    "enabled": True,
    "optional": None,
    "seats": 42,
    "ratio": 2.5,
    "tier": "premium",
    "tags": ["a", "b"],
    "account.plan": "enterprise",
    "account": {"seat-count": 12},
    "user": {"email": "ava@example.com", "name": "héllo", "roles": ["admin", "billing"]},
    "payload": {"features": ["checkout", "support"], "nested": {"name": "rototo"}},
}


def no_qualifiers(qualifier_id: str) -> bool:
    raise AssertionError(f"qualifier {qualifier_id} must not be read")


def evaluate(
    text: str,
    context: Any = None,
    qualifier: Callable[[str], bool] = no_qualifiers,
    entry: Any = MISSING,
) -> bool:
    env = EvalEnv(CONTEXT if context is None else context, qualifier, entry)
    return parse_expression(text).compile()(env)


def fails(text: str, context: Any = None, entry: Any = MISSING) -> str:
    with pytest.raises(ExpressionEvalError) as caught:
        evaluate(text, context, entry=entry)
    assert isinstance(caught.value, ResolutionError)
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("context.seats == 42.0", True),
        ("context.seats != 43", True),
        ("context.seats < 43 && context.seats <= 42", True),
        ("context.ratio > 2 && context.ratio >= 2.5", True),
        ('"bravo" > "alpha" && "alpha" <= "alpha"', True),
        ('context.tier in ["free", "premium"]', True),
        ('"b" in context.tags', True),
        ("context.optional == null && context.enabled == true", True),
        ('context.tags == ["a", "b"]', True),
        ('context.seats == "42"', False),
        ("context.tier > 10", False),
        ('context.tier in "premium"', False),
        ('context["account.plan"] == "enterprise"', True),
        ('context.account["seat-count"] == 12', True),
        ("[1] == [1.0]", False),
        ("1 == 1.0", True),
        ("1 in [1.0]", True),
        ("[1] in [[1.0]]", False),
        ("null == null", True),
        ("true == 1", False),
        ("-0.0 == 0", True),
        ('"a" < "b"', True),
        ('"B" < "a"', True),
        ('"10" < "9"', True),
        ("10 < 9", False),
        ("null < 1", False),
        ("[] < [1]", False),
        ("true < false", False),
    ],
)
def test_operators(text: str, expected: bool) -> None:
    assert evaluate(text) is expected


def test_big_integers_compare_like_the_reference() -> None:
    # Saturating integer/float checks of the reference, reproduced on purpose.
    assert evaluate("context.a == 9223372036854775808.0", {"a": 2**63 - 1}) is True
    assert evaluate("context.a == context.b", {"a": 2**63 - 1, "b": 2**63}) is False
    assert evaluate("context.a == 9223372036854775807", {"a": 9223372036854775808.0}) is True
    assert evaluate("context.a == context.b", {"a": 2**64 - 1, "b": 2**63 - 1}) is False
    assert evaluate("context.a == 9007199254740992.0", {"a": 9007199254740993}) is False
    assert evaluate("context.a < 9007199254740992.0", {"a": 9007199254740993}) is False


def test_context_root_can_be_compared_and_mapping_types_are_accepted() -> None:
    from types import MappingProxyType

    assert evaluate('context.a == "x"', MappingProxyType({"a": "x"})) is True
    assert evaluate("context == context", {"a": [1]}) is True
    proxy = MappingProxyType({"a": MappingProxyType({"b": 1})})
    assert evaluate("context == context && size(context.a) == 1", proxy) is True
    assert evaluate('present(context, "/a/b") && context.a == path(context, "/a")', proxy)


def test_short_circuit_skips_missing_paths_and_qualifiers() -> None:
    assert evaluate("false && context.missing.path == 1") is False
    assert evaluate("true || context.missing.path == 1") is True
    assert evaluate('true || qualifier["must-not-run"]') is True
    assert evaluate('false && qualifier["must-not-run"]') is False
    assert evaluate("!has(context.missing) || context.missing == 1") is True


def test_missing_paths_fail_with_the_full_path() -> None:
    assert fails("context.user.missing == true") == (
        "expression path is missing: context.user.missing"
    )
    assert fails("context.tier.x == 1") == "expression path is missing: context.tier.x"
    assert fails("context.tags.x == 1") == "expression path is missing: context.tags.x"
    assert fails("context.missing in []") == "expression path is missing: context.missing"
    assert fails('entry.channel == "email"') == "expression path is missing: entry.channel"
    assert fails("entry == 1") == "expression path is missing: entry."
    assert fails("true && context.missing.path == 1") == (
        "expression path is missing: context.missing.path"
    )


def test_has_checks_presence_including_null() -> None:
    assert evaluate("has(context.optional)") is True
    assert evaluate("has(context.optional.x)") is False
    assert evaluate("has(context.user.email)") is True
    assert evaluate("has(context)") is True
    assert evaluate("has(entry.x)") is False
    assert evaluate("has(entry.x)", entry={"x": None}) is True
    assert fails('has("tier")') == "has() requires a context or entry path argument"
    assert fails("has()") == "has() expects 1 arguments, got 0"
    assert evaluate("false && has()") is False


def test_entry_paths_read_the_catalog_entry() -> None:
    entry = {"channel": "email", "limits": {"daily": 100}}
    assert evaluate('entry.channel == "email" && entry.limits.daily >= 100', entry=entry)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("context.tier && true", "expression operand must be bool"),
        ("!context.seats", "expression operand must be bool"),
        ("context.optional || true", "expression operand must be bool"),
        ('"premium"', 'expression did not evaluate to bool: "premium"'),
        ("context.seats", "expression did not evaluate to bool: context.seats"),
        ("unknown_fn(context.tier)", "unknown expression function: unknown_fn"),
        ("unknown_fn(context.nope)", "expression path is missing: context.nope"),
        ("size(true)", "size() requires an array, object, or string"),
        ('path(context.payload, "/missing") == true', "path() did not find JSON Pointer: /missing"),
        ("prefix(context.tier)", "prefix() expects 2 arguments, got 1"),
        ("prefix(context.nope)", "expression path is missing: context.nope"),
        ('startsWith(1, "a")', "startsWith() argument must be a string"),
        ('ends_with("a", 1)', "ends_with() argument must be a string"),
        ("bucket(context.tier, 1, 0, 10)", "bucket() argument must be a string"),
        ('bucket(context.tier, "s", 0.0, 10)', "bucket() argument must be an integer"),
        (
            'bucket(context.tier, "s", 0, 18446744073709551615)',
            "bucket() argument must be an integer",
        ),
        (
            'time_after("2026-01-01T00:00:00Z", "soon")',
            "time_after() argument must be an RFC3339 timestamp",
        ),
        ('timeBefore(1, "2026-01-01T00:00:00Z")', "timeBefore() argument must be a string"),
        ('cidr(context.tier, "10.0.0.0/8")', "ip address is invalid: invalid IP address syntax"),
        ('cidr("10.0.0.1", 5)', "cidr() CIDR argument must be a string or list of strings"),
        ('cidr("10.0.0.1", ["10.0.0.0/8", 5])', "cidr() argument must be a string"),
        ('cidr("10.0.0.1", ["bad", "10.0.0.0/8"])', "CIDR block is invalid: bad"),
        (
            'semver("1.2", "1")',
            "semver version is invalid: unexpected end of input while parsing minor version number",
        ),
        (
            'semver("1.2.3", "=>1")',
            "semver requirement is invalid: "
            "unexpected character '>' while parsing major version number",
        ),
        (
            'glob("a", "[")',
            "glob pattern is invalid: Pattern syntax error near position 0: invalid range pattern",
        ),
        ('regex(1, "[")', "regex is invalid: regex parse error: missing ]: ["),
        ('regex(1, "a")', "regex() argument must be a string"),
        ("missing(context.payload, 1)", "missing() argument must be a string"),
    ],
)
def test_evaluation_errors_match_the_reference_wording(text: str, message: str) -> None:
    assert fails(text) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('prefix(context.user.email, "ava@")', True),
        ('starts_with(context.user.email, "sam@")', False),
        ('suffix(context.user.email, ".com")', True),
        ('endsWith(context.user.email, "example")', False),
        ('contains(context.user.email, "@example.")', True),
        ('contains(context.user.roles, "admin")', True),
        ('contains(context.user.roles, "owner")', False),
        ("contains(context.seats, 4)", False),
        ('contains(context.user.name, "é")', True),
        ('present(context.payload, "/features/0")', True),
        ('present(context.payload, "/features/00")', False),
        ('present(context.payload, "/features/+1")', False),
        ('present(context.payload, "")', True),
        ('present(context.payload, "features")', False),
        ('missing(context.payload, "/features/3")', True),
        ('path(context.payload, "/nested/name") == "rototo"', True),
        ("size(context.tags) == 2 && size(context.payload) == 2", True),
        ('size("héllo") == 5', True),
        ("size(context.user.name) == 5", True),
        ('matches(context.user.email, "^[^@]+@example\\\\.com$")', True),
        ('glob(context.user.email, "*@example.com")', True),
        ('semver("1.4.2", ">=1.0, <2.0")', True),
        (
            'timeBetween("2026-06-21T12:30:00Z", "2026-06-21T00:00:00Z", "2026-06-22T00:00:00Z")',
            True,
        ),
        ('time_between("2026-06-21T00:00:00Z", "2026-06-22T00:00:00Z", "garbage")', False),
        ('cidr("192.168.1.10", ["10.0.0.0/8", "192.168.0.0/16"])', True),
        ('cidr("fd00::1", "fd00::/8")', True),
        ('cidr("::ffff:10.0.0.1", "10.0.0.0/8")', False),
        ('bucket("user-123", "known-salt", 9913, 9914)', True),
        ('bucket("user-123", "known-salt", 9914, 9915)', False),
        ('bucket("user-123", "known-salt", 9912, 9913)', False),
    ],
)
def test_helpers(text: str, expected: bool) -> None:
    assert evaluate(text) is expected


def test_non_ascii_literal_equals_the_same_text_in_context() -> None:
    # Documented behaviour, not the reference's byte-per-character reading
    # (docs/compatibility.md).
    assert evaluate('context.user.name == "héllo"') is True
    assert evaluate('context.x == "héllo"', {"x": "h\u00c3\u00a9llo"}) is False
    assert evaluate('prefix(context.x, "日本") && suffix(context.x, "語")', {"x": "日本語"}) is True
    assert evaluate('glob(context.x, "é*")', {"x": "école"}) is True
    # No Unicode normalisation: a decomposed "é" is different text.
    assert evaluate('glob(context.x, "é*")', {"x": "e\u0301cole"}) is False
    assert evaluate('regex(context.x, "^.$")', {"x": "é"}) is True
    assert evaluate('context.x in ["ü", "é"]', {"x": "é"}) is True


def test_compiled_predicate_is_cached_and_reusable() -> None:
    expression = parse_expression('context.tier == "premium"')
    predicate = expression.compile()
    assert expression.compile() is predicate
    for tier, expected in [("premium", True), ("free", False)] * 3:
        assert predicate(EvalEnv({"tier": tier}, no_qualifiers)) is expected
    assert expression.evaluate(EvalEnv({"tier": "premium"}, no_qualifiers)) is True


def evaluator(whens: dict[str, str], context: dict[str, Any]) -> QualifierEvaluator:
    return QualifierEvaluator(
        {key: parse_expression(text).compile() for key, text in whens.items()}, context
    )


def test_qualifier_evaluator_composes_and_memoises() -> None:
    calls: list[str] = []
    base = parse_expression('context.tier == "premium"').compile()

    def counted(env: EvalEnv) -> bool:
        calls.append("premium")
        return base(env)

    qualifiers = QualifierEvaluator(
        {
            "premium": counted,
            "derived": parse_expression('qualifier["premium"] && qualifier.premium').compile(),
            "other": parse_expression("!qualifier.premium").compile(),
        },
        {"tier": "premium"},
    )
    assert qualifiers.resolve("derived") is True
    assert qualifiers.resolve("other") is False
    assert calls == ["premium"]
    assert qualifiers.resolved() == {"premium": True, "derived": True, "other": False}
    assert parse_expression("qualifier.premium").evaluate(qualifiers.env) is True


def test_qualifier_cycles_are_named() -> None:
    qualifiers = evaluator(
        {"a": 'qualifier["b"]', "b": "true && qualifier.c", "c": "qualifier.a"}, {}
    )
    with pytest.raises(QualifierCycleError) as caught:
        qualifiers.resolve("a")
    assert str(caught.value) == "qualifier cycle detected at qualifier://a"
    assert caught.value.cycle == ("a", "b", "c", "a")
    self_loop = evaluator({"s": "qualifier.s || true"}, {})
    with pytest.raises(QualifierCycleError, match="qualifier://s"):
        self_loop.resolve("s")


def test_unknown_qualifier_and_inner_errors_propagate() -> None:
    qualifiers = evaluator({"a": "qualifier.nope", "b": "qualifier.c", "c": "context.x == 1"}, {})
    with pytest.raises(ExpressionEvalError, match=r"^qualifier not found: qualifier://nope$"):
        qualifiers.resolve("a")
    with pytest.raises(ExpressionEvalError, match=r"^expression path is missing: context.x$"):
        qualifiers.resolve("b")
    # A failure is not cached as an answer: the next context-free call fails the same way.
    with pytest.raises(ExpressionEvalError):
        qualifiers.resolve("b")


def test_non_boolean_qualifier_callback_is_an_error() -> None:
    with pytest.raises(ExpressionEvalError, match="did not resolve to a boolean"):
        evaluate("qualifier.x", {}, qualifier=lambda _id: 1)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize(
    "text",
    [
        'regex(context.s, "a")',
        'glob(context.s, "*")',
        'bucket(context.s, "salt", 0, 5000) || true',
        'time_after(context.s, "2026-01-01T00:00:00Z")',
        'cidr(context.s, "10.0.0.0/8")',
        'semver(context.s, "*")',
        'prefix(context.s, "a") || contains(context.s, "\\\\")',
        "size(context.s) == 1",
    ],
)
def test_lone_surrogates_from_json_never_crash(text: str) -> None:
    # json.loads('"\\ud800"') yields a lone surrogate; the reference never sees one.
    try:
        result = evaluate(text, {"s": "\ud800"})
    except ExpressionEvalError:
        return
    assert result is True or result is False
