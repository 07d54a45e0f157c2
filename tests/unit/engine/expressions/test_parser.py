"""Grammar, precedence, literals, references and the canonical JSON form."""

from __future__ import annotations

from typing import Any

import pytest

from rototo_operator.engine.expressions import (
    EvalEnv,
    Expression,
    ExpressionFormatError,
    ExpressionSyntaxError,
    expression_from_json,
    parse_expression,
)
from rototo_operator.errors import RototoError, WorkspaceLoadError


def tree(text: str) -> Any:
    return parse_expression(text).to_json()["ast"]


def lit(value: Any) -> dict[str, Any]:
    return {"lit": value}


def ctx(*segments: str) -> dict[str, Any]:
    return {"path": list(segments), "root": "context"}


def test_or_binds_looser_than_and() -> None:
    assert tree("true || false && false") == {"any": [lit(True), {"all": [lit(False), lit(False)]}]}


def test_parentheses_override_precedence() -> None:
    assert tree("(true || false) && false") == {
        "all": [{"any": [lit(True), lit(False)]}, lit(False)]
    }


def test_logical_chains_stay_flat_but_parentheses_keep_their_group() -> None:
    assert tree("true || false || true") == {"any": [lit(True), lit(False), lit(True)]}
    assert tree("(true || false) || true") == {"any": [{"any": [lit(True), lit(False)]}, lit(True)]}


def test_long_chains_parse_serialize_and_evaluate() -> None:
    text = " || ".join(f"context.a == {i}" for i in range(3000))
    expression = expression_from_json(parse_expression(text).to_json())
    assert expression.evaluate(EvalEnv({"a": 2999}, lambda _id: False)) is True


@pytest.mark.parametrize("text", ["1 == " * 300 + "1", "!" * 300 + "true"])
def test_trees_deeper_than_the_limit_are_rejected(text: str) -> None:
    with pytest.raises(ExpressionSyntaxError, match="nested too deeply"):
        parse_expression(text)


def test_comparison_binds_tighter_than_equality_and_in() -> None:
    assert tree("1 < 2 == true") == {
        "left": {"left": lit(1), "op": "<", "right": lit(2)},
        "op": "==",
        "right": lit(True),
    }
    assert tree("1 < 2 in [true]")["op"] == "in"


def test_equality_level_is_left_associative() -> None:
    assert tree('"a" == "a" != false') == {
        "left": {"left": lit("a"), "op": "==", "right": lit("a")},
        "op": "!=",
        "right": lit(False),
    }


def test_not_applies_to_the_primary_only() -> None:
    assert tree("!true == false") == {
        "left": {"not": lit(True)},
        "op": "==",
        "right": lit(False),
    }
    assert tree("!!true") == {"not": {"not": lit(True)}}


def test_number_literals_keep_their_kind() -> None:
    assert tree("[1, -2, 1.5, 1e3, -0, -0.0, 1., -.5, 18446744073709551615]") == {
        "list": [
            lit(1),
            lit(-2),
            lit(1.5),
            lit(1000.0),
            lit(0),
            lit(-0.0),
            lit(1.0),
            lit(-0.5),
            lit(18446744073709551615),
        ]
    }


def test_string_literals_and_escapes() -> None:
    assert tree(r"""['a', "b", "\"\'\\\/\b\f\n\r\t"]""") == {
        "list": [lit("a"), lit("b"), lit("\"'\\/\b\f\n\r\t")]
    }


def test_non_ascii_string_literal_is_decoded_as_utf8() -> None:
    # The reference pushes each UTF-8 byte as one character; we follow the documentation
    # (docs/compatibility.md). Escapes and multi-byte text mix freely.
    assert tree('"é"') == lit("é")
    assert tree('"日\\n本\\"語"') == lit('日\n本"語')
    assert tree("'😀'") == lit("😀")


def test_paths_in_dot_and_bracket_form() -> None:
    assert tree('context.account["seat-count"].x-y') == ctx("account", "seat-count", "x-y")
    assert tree("context") == ctx()
    assert tree("entry.channel") == {"path": ["channel"], "root": "entry"}


def test_qualifier_references_in_both_forms() -> None:
    expression = parse_expression('qualifier["paid-account"] && qualifier.mobile-users')
    assert expression.qualifier_refs() == frozenset({"paid-account", "mobile-users"})


def test_calls_are_not_checked_at_parse_time() -> None:
    assert tree("nope(1, context.a)") == {"args": [lit(1), ctx("a")], "call": "nope"}
    assert tree("f()") == {"args": [], "call": "f"}


def test_context_paths_include_guarded_and_skipped_reads() -> None:
    expression = parse_expression(
        'has(context.user.nickname) || false && prefix(context["a.b"].c, "x") || context'
    )
    assert expression.context_paths() == frozenset({("user", "nickname"), ("a.b", "c"), ()})
    assert expression.function_names() == frozenset({"has", "prefix"})


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ('context.user.tier = "premium"', "expected ==, found =", 18),
        ("a & b", "expected &&, found &", 2),
        ("true | false", "expected ||, found |", 5),
        ("account.tier", "unknown identifier in expression: account", 0),
        ("qualifier[context.id]", 'qualifier reference must use qualifier["id"]', 10),
        ("qualifier", 'qualifier reference must use qualifier["id"]', 9),
        ("qualifier.1", "qualifier reference must name a qualifier", 10),
        ('qualifier["a"', "expected ] after qualifier id", 13),
        ("context.user.", "expected path segment after .", 13),
        ("context[1]", "path bracket lookup must use a string literal", 8),
        ('context["a"', "expected ] after path segment", 11),
        ('context.user.tier == "premium', "unterminated string literal", 29),
        ('"abc\\', "unterminated string escape", 5),
        ('"\\u0041"', "unsupported string escape: \\u", 1),
        ("true false", 'unexpected token after expression: Ident("false")', 5),
        ('true "x\\n"', 'unexpected token after expression: String("x\\n")', 5),
        ("(true", "expected )", 5),
        ("[1 2]", "expected , between list values", 3),
        ("f(1 2)", "expected , between function arguments", 4),
        (")", "expected expression, found RParen", 0),
        ("", "expected expression, found Eof", 0),
        ("1 ==", "expected expression, found Eof", 4),
        (".5", "expected expression, found Dot", 0),
        ("é", "unexpected character in expression: é", 0),
        ("1 + 2", "unexpected character in expression: +", 2),
        ("1e", "invalid number literal: 1e", 0),
        ("-", "invalid number literal: -", 0),
        ("- 1", "invalid number literal: -", 0),
        ("18446744073709551616", "invalid number literal: 18446744073709551616", 0),
        ("1e400", "invalid number literal: 1e400", 0),
    ],
)
def test_syntax_errors_name_what_was_expected_and_where(
    text: str, message: str, offset: int
) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_expression(text)
    assert str(caught.value) == message
    assert caught.value.offset == offset
    assert isinstance(caught.value, RototoError)


def test_offsets_count_characters_not_bytes() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_expression('"ééé" = 1')
    assert caught.value.offset == 6


def test_lexer_errors_win_over_parse_errors() -> None:
    with pytest.raises(ExpressionSyntaxError, match="expected ==, found ="):
        parse_expression("( x = 1")


def test_very_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(ExpressionSyntaxError, match="nested too deeply"):
        parse_expression("(" * 5000 + "true" + ")" * 5000)


@pytest.mark.parametrize(
    "text",
    [
        'context.a == "x" && (context.b in [1, 2.5, null, [true]] || !has(context.c))',
        'qualifier["q"] || bucket(context.id, "salt", 0, 2500)',
        "entry.limits.daily >= 100 && size(context.tags) > 1",
        'regex(context.email, "^[^@]+@example\\\\.com$")',
    ],
)
def test_to_json_round_trips(text: str) -> None:
    expression = parse_expression(text)
    data = expression.to_json()
    again = expression_from_json(data)
    assert again == expression
    assert again.to_json() == data
    assert data["source"] == text
    assert data["format"] == "rototo.expression/v1"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object"),
        ({"ast": {"lit": 1}, "source": "1"}, "exactly the keys"),
        ({"ast": {"lit": 1}, "format": "v0", "source": "1"}, "format"),
        ({"ast": {"lit": 1}, "format": "rototo.expression/v1", "source": 1}, "source"),
        ({"ast": {"bogus": 1}, "format": "rototo.expression/v1", "source": "x"}, "unknown shape"),
        ({"ast": {"lit": [1]}, "format": "rototo.expression/v1", "source": "x"}, "scalar"),
        ({"ast": {"lit": 2**64}, "format": "rototo.expression/v1", "source": "x"}, "64-bit"),
        ({"ast": {"not": 3}, "format": "rototo.expression/v1", "source": "x"}, "$.not"),
        ({"ast": {"any": [{"lit": True}]}, "format": "rototo.expression/v1", "source": "x"}, "two"),
        ({"ast": {"all": {}}, "format": "rototo.expression/v1", "source": "x"}, "must be a list"),
        (
            {
                "ast": {"op": "+", "left": {"lit": 1}, "right": {"lit": 1}},
                "format": "rototo.expression/v1",
                "source": "x",
            },
            "not a known operator",
        ),
        (
            {
                "ast": {"path": ["a"], "root": "ctx"},
                "format": "rototo.expression/v1",
                "source": "x",
            },
            "root",
        ),
        (
            {
                "ast": {"path": [1], "root": "context"},
                "format": "rototo.expression/v1",
                "source": "x",
            },
            "list of strings",
        ),
        (
            {"ast": {"call": "", "args": []}, "format": "rototo.expression/v1", "source": "x"},
            "function name",
        ),
        (
            {"ast": {"call": "f", "args": {}}, "format": "rototo.expression/v1", "source": "x"},
            "must be a list",
        ),
        ({"ast": {"qualifier": 5}, "format": "rototo.expression/v1", "source": "x"}, "string"),
    ],
)
def test_corrupt_json_is_rejected_with_a_located_message(data: Any, message: str) -> None:
    with pytest.raises(ExpressionFormatError, match=message.replace("$", r"\$")) as caught:
        expression_from_json(data)
    assert isinstance(caught.value, WorkspaceLoadError)


def test_deep_corrupt_json_is_rejected() -> None:
    node: Any = {"lit": True}
    for _ in range(500):
        node = {"not": node}
    with pytest.raises(ExpressionFormatError, match="nested too deeply"):
        expression_from_json({"ast": node, "format": "rototo.expression/v1", "source": "x"})


def test_expressions_are_values() -> None:
    assert parse_expression("true") == parse_expression("true")
    assert len({parse_expression("true"), parse_expression("true")}) == 1
    assert parse_expression("true") != parse_expression("(true)")
    assert isinstance(parse_expression("true"), Expression)
    assert repr(parse_expression("true")) == "Expression('true')"
