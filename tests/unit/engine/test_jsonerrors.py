"""Invalid JSON is located and worded the way the reference's reader reports it."""

from __future__ import annotations

import json

import pytest

from rototo_operator.engine.jsonerrors import locate_json_error


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("", "EOF while parsing a value", 1, 0),
        ('{"type": "obj', "EOF while parsing a string", 1, 13),
        ('{"type": "object",}', "trailing comma", 1, 19),
        ('{"a": 1} extra', "trailing characters", 1, 10),
        ('{\n  "a": tru\n}', "expected ident", 3, 0),
        (
            '{"a":\t"x\ny"}',
            "control character (\\u0000-\\u001F) found while parsing a string",
            2,
            0,
        ),
        ('{"é": "😀", "b": }', "expected value", 1, 21),
        ('{"a": 1e999}', "number out of range", 1, 11),
        ('{"a" 1}', "expected `:`", 1, 6),
        ("[1, 2 3]", "expected `,` or `]`", 1, 7),
        ('{"a": "\\u12g4"}', "invalid escape", 1, 13),
        ("[01]", "invalid number", 1, 3),
    ],
)
def test_locates_like_serde_json(text: str, message: str, line: int, column: int) -> None:
    found = locate_json_error(text)
    assert found is not None
    assert (found.message, found.line, found.column) == (message, line, column)


@pytest.mark.parametrize("text", ["{}", "[1, 2.5e3, -0, true, null]", '{"a": "\\u00e9\\n"}'])
def test_valid_json_has_no_error(text: str) -> None:
    json.loads(text)
    assert locate_json_error(text) is None
