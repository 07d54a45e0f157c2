"""Source spans of TOML values, as the reference's diagnostics report them."""

from __future__ import annotations

import pytest

from rototo_operator.engine.textspans import LineIndex, toml_value_spans


def span_text(text: str, path: tuple[str | int, ...]) -> str:
    start, end = toml_value_spans(text)[path]
    return text[start:end]


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        ('type = "int"\n', ("type",), '"int"'),
        ("v = '''a\nb'''\n", ("v",), "'''a\nb'''"),
        ("v = 1_000 # note\n", ("v",), "1_000"),
        ("v = [1, { a = 2 }]\n", ("v", 1), "{ a = 2 }"),
        ("v = [1, { a = 2 }]\n", ("v", 1, "a"), "2"),
        ("[resolve]\n\n[other]\n", ("resolve",), "[resolve]\n"),
        ("[resolve]", ("resolve",), "[resolve]"),
        ("[resolve]\ndefault = 'a'\n# tail\n", ("resolve",), "[resolve]\ndefault = 'a'"),
        ("[resolve.sub]\nq = 1\n", ("resolve",), "[resolve.sub]\nq = 1"),
        # A table grows only with the values of the header that created it.
        ("[resolve]\n[[resolve.rule]]\nx = 1\n", ("resolve",), "[resolve]\n"),
        ("[resolve]\nfoo = 1\n[resolve.sub]\nbar = 2\n", ("resolve",), "[resolve]\nfoo = 1"),
        ("[resolve.a]\ny = 1\n[resolve.b]\nz = 2\n", ("resolve",), "[resolve.a]\ny = 1"),
        ("[[r]]\nw = 1\n[r]\nfoo = 1\n", ("r",), "[[r]]\nw = 1"),
        ("[[r]]\nx = 1\n[[r]]\ny = 2\n", ("r", 1), "[[r]]\ny = 2"),
        ("[[r]]\nx = 1\n[[r]]\ny = 2\n", ("r", 1, "y"), "2"),
        ("a.b = true\n", ("a", "b"), "true"),
        ('"quoted key" = "é"\n', ("quoted key",), '"é"'),
        ("d = 1979-05-27 07:32:00\n", ("d",), "1979-05-27 07:32:00"),
    ],
)
def test_value_spans(text: str, path: tuple[str | int, ...], expected: str) -> None:
    assert span_text(text, path) == expected


def test_root_spans_the_document() -> None:
    text = "a = 1\nb = 2\n"
    assert toml_value_spans(text)[()] == (0, len(text))


def test_unparseable_text_gives_partial_spans() -> None:
    spans = toml_value_spans("a = 1\nb = [\n")
    assert ("a",) in spans
    assert ("b",) not in spans


def test_positions_count_utf16_units() -> None:
    index = LineIndex("aé\nb😀c")
    assert index.range(1, 2).start.character == 1
    position = index.position(5)
    assert (position.line, position.character) == (1, 3)
    assert index.offset(1, 3) == 5
    assert index.offset(9, 0) == len("aé\nb😀c")
