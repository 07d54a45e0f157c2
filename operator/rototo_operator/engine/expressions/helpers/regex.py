"""Rust `regex` crate patterns, run on RE2 (linear time, no backtracking).

Both engines share the syntax's core (no backreferences or lookaround, leftmost-first,
unanchored `is_match`). The Rust dialect is rewritten before RE2 sees it where they
differ:

* `\\d \\s \\w` (and `\\D \\S \\W`) are Unicode classes in Rust and ASCII in RE2; they are
  expanded to Unicode classes (`\\w` = letters, marks, decimal digits, connector
  punctuation, letter numbers, ZWJ/ZWNJ and the other-alphabetic symbol ranges), also
  inside brackets, where the negations are written as explicit ranges;
* `\\u{…}`, `\\uXXXX`, `\\U{…}`, `\\UXXXXXXXX` escapes become `\\x{…}`;
* long general-category names in `\\p{…}` (`Letter`, `Uppercase_Letter`, …) become the
  short names RE2 knows;
* a verbose `(?x)` prefix is applied (whitespace and `#` comments dropped);
* forms Rust rejects but RE2 would accept (`\\1` and other digit escapes, `\\Q…\\E`,
  `\\C`, a `{` that is not a valid repetition) are rejected;
* the `u` and `R` flags are dropped (`(?-u)` keeps RE2's ASCII classes), non-negated
  nested classes are flattened (`[a[bc]]` is `[abc]`);
* a repetition of a repetition (`a**`, valid in Rust) gets a group, and counts above
  RE2's 1000 are written as a sequence of chunks (`a{2000}` is `(?:a){1000}(?:a){1000}`).

Known gaps (docs/expressions.md): `\\b`/`\\B` use ASCII word characters, so they differ
from Rust only around non-ASCII letters; class set operations (`&&`, `--`, `~~`),
negated nested classes, `\\<`/`\\>`/`\\b{…}` and counts above 100,000 are reported as
invalid; error texts after "regex is invalid: " are RE2's, not the Rust crate's.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

from rototo_operator.engine.expressions.helpers import HelperError

_WHITE_SPACE = (
    r"\x{9}-\x{D}\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}"
    r"\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"
)
_WORD = (
    r"\p{L}\p{M}\p{Nd}\p{Pc}\p{Nl}\x{200C}\x{200D}"
    r"\x{24B6}-\x{24E9}\x{1F130}-\x{1F149}\x{1F150}-\x{1F169}\x{1F170}-\x{1F189}"
)
_DIGIT = r"\p{Nd}"
# Complements usable inside a class: `\\D` and `\\S` (White_Space is a short list).
_NEGATED_IN_CLASS = {
    "D": r"\P{Nd}",
    "S": (
        r"\x{0}-\x{8}\x{E}-\x{1F}\x{21}-\x{84}\x{86}-\x{9F}\x{A1}-\x{167F}"
        r"\x{1681}-\x{1FFF}\x{200B}-\x{2027}\x{202A}-\x{202E}\x{2030}-\x{205E}"
        r"\x{2060}-\x{2FFF}\x{3001}-\x{10FFFF}"
    ),
}
_CLASS_BODIES = {"d": _DIGIT, "s": _WHITE_SPACE, "w": _WORD}


@lru_cache(maxsize=1)
def _non_word_ranges() -> str:
    """`\\W` inside a class: the complement of `_WORD` as explicit ranges.

    RE2 cannot nest a negated class, so the ranges are listed; they are found once, by
    letting RE2 itself scan every scalar value for runs outside `_WORD`."""
    scalars = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    ranges = []
    for match in re2.finditer(f"[^{_WORD}]+", scalars):
        first, last = match.start(), match.end() - 1
        low = first if first < 0xD800 else first + 0x800
        high = last if last < 0xD800 else last + 0x800
        ranges.append(f"\\x{{{low:X}}}-\\x{{{high:X}}}")
    return "".join(ranges)


_LONG_CATEGORIES = {
    "letter": "L",
    "cased_letter": "L&",
    "uppercase_letter": "Lu",
    "lowercase_letter": "Ll",
    "titlecase_letter": "Lt",
    "modifier_letter": "Lm",
    "other_letter": "Lo",
    "mark": "M",
    "combining_mark": "M",
    "nonspacing_mark": "Mn",
    "spacing_mark": "Mc",
    "enclosing_mark": "Me",
    "number": "N",
    "decimal_number": "Nd",
    "digit": "Nd",
    "letter_number": "Nl",
    "other_number": "No",
    "punctuation": "P",
    "punct": "P",
    "connector_punctuation": "Pc",
    "dash_punctuation": "Pd",
    "open_punctuation": "Ps",
    "close_punctuation": "Pe",
    "initial_punctuation": "Pi",
    "final_punctuation": "Pf",
    "other_punctuation": "Po",
    "symbol": "S",
    "math_symbol": "Sm",
    "currency_symbol": "Sc",
    "modifier_symbol": "Sk",
    "other_symbol": "So",
    "separator": "Z",
    "space_separator": "Zs",
    "line_separator": "Zl",
    "paragraph_separator": "Zp",
    "other": "C",
    "control": "Cc",
    "cntrl": "Cc",
    "format": "Cf",
    "surrogate": "Cs",
    "private_use": "Co",
    "unassigned": "Cn",
}

_OPTIONS: Any = re2.Options()
_OPTIONS.log_errors = False


class _Unsupported(Exception):
    pass


def _invalid(detail: str) -> HelperError:
    return HelperError(f"regex is invalid: regex parse error: {detail}")


def _strip_verbose(pattern: str) -> str:
    out: list[str] = []
    index = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "#":
            newline = pattern.find("\n", index)
            index = len(pattern) if newline == -1 else newline
            continue
        elif not char.isspace():
            out.append(char)
        index += 1
    return "".join(out)


def _hex_escape(pattern: str, index: int, letter: str) -> tuple[str, int]:
    """Translate `\\u`/`\\U`/`\\x` forms starting at pattern[index] == letter."""
    rest = pattern[index + 1 :]
    if rest.startswith("{"):
        close = rest.find("}")
        if close == -1:
            raise _Unsupported("unclosed hexadecimal escape")
        digits = rest[1:close]
        consumed = close + 1
    else:
        width = {"x": 2, "u": 4, "U": 8}[letter]
        digits = rest[:width]
        consumed = width
        if len(digits) != width:
            raise _Unsupported("incomplete hexadecimal escape")
    if not digits or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise _Unsupported("invalid hexadecimal digit")
    value = int(digits, 16)
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        raise _Unsupported("invalid Unicode scalar value in hexadecimal escape")
    return f"\\x{{{value:X}}}", index + 1 + consumed


def _repetition_end(pattern: str, index: int) -> int:
    """Index after a valid `{n}`, `{n,}`, `{n,m}` at pattern[index] == '{', else -1."""
    close = pattern.find("}", index)
    if close == -1:
        return -1
    body = pattern[index + 1 : close].replace(" ", "")
    low, comma, high = body.partition(",")
    if not low.isascii() or not low.isdigit():
        return -1
    if comma and high and (not high.isascii() or not high.isdigit()):
        return -1
    return close + 1


_MAX_RE2_REPEAT = 1000
_MAX_EXPANDED_REPEAT = 100_000


def _counted(atom: str, low: int, high: int | None, unbounded: bool) -> str:
    """`atom{low,high}` for counts above RE2's limit of 1000, as a sequence of chunks.

    RE2 also rejects nested counts whose product exceeds 1000, so the chunks are
    written one after another, never nested. Only whether a match exists matters here,
    so `x{0,k}` may be written as k optional copies."""
    group = f"(?:{atom})"

    def copies(item: str, count: int) -> str:
        full, rest = divmod(count, _MAX_RE2_REPEAT)
        text = f"{item}{{{_MAX_RE2_REPEAT}}}" * full
        return text + (f"{item}{{{rest}}}" if rest else "")

    if unbounded:
        return copies(group, low) + f"{group}*"
    if high is None:
        return copies(group, low)
    if high < low:
        raise _Unsupported("invalid repetition range (the minimum exceeds the maximum)")
    return copies(group, low) + copies(f"(?:{group}?)", high - low)


def translate(pattern: str) -> str:
    """Rewrite a Rust-dialect pattern into RE2 syntax with the same meaning."""
    if pattern.startswith("(?x)"):
        pattern = _strip_verbose(pattern[4:])
    # `(?-u)` asks Rust for ASCII classes, which are RE2's own `\\d \\s \\w`.
    ascii_classes = "(?-u" in pattern or ("(?" in pattern and "-u" in pattern)
    out: list[str] = []
    index = 0
    in_class = False
    nested = 0
    length = len(pattern)
    # Where the last complete atom starts in `out` (-1: none), open groups' starts, and
    # whether the last thing written was a repetition (Rust allows `a**`, RE2 does not).
    atom = -1
    groups: list[int] = []
    repeated = False
    lazy_marked = False
    while index < length:
        char = pattern[index]
        if char == "\\":
            if index + 1 >= length:
                raise _Unsupported("incomplete escape sequence")
            atom, repeated = len(out), False
            letter = pattern[index + 1]
            lower = letter.lower()
            if lower in _CLASS_BODIES and ascii_classes:
                out.append(pattern[index : index + 2])
                index += 2
            elif lower in _CLASS_BODIES:
                body = _CLASS_BODIES[lower]
                negated = letter != lower
                if in_class:
                    if not negated:
                        out.append(body)
                    elif letter in _NEGATED_IN_CLASS:
                        out.append(_NEGATED_IN_CLASS[letter])
                    else:
                        out.append(_non_word_ranges())
                else:
                    out.append(f"[{'^' if negated else ''}{body}]")
                index += 2
            elif letter in "uUx":
                text, index = _hex_escape(pattern, index + 1, letter)
                out.append(text)
            elif letter in "pP":
                if index + 2 < length and pattern[index + 2] == "{":
                    close = pattern.find("}", index + 3)
                    if close == -1:
                        raise _Unsupported("unclosed Unicode class")
                    name = pattern[index + 3 : close]
                    key = name.replace(" ", "").replace("-", "_").lower()
                    short = _LONG_CATEGORIES.get(key)
                    out.append(f"\\{letter}{{{short if short else name}}}")
                    index = close + 1
                else:
                    out.append(pattern[index : index + 3])
                    index += 3
            elif letter.isdigit():
                raise _Unsupported("backreferences are not supported")
            elif letter in "QEC":
                # RE2 knows \\Q…\\E quoting and \\C; Rust rejects both.
                raise _Unsupported("unrecognized escape sequence")
            elif letter in "<>" or (letter == "b" and pattern[index + 2 : index + 3] == "{"):
                raise _Unsupported("word-boundary assertion forms are not supported")
            else:
                out.append(pattern[index : index + 2])
                index += 2
            continue
        if in_class:
            if char == "]" and nested:
                # A nested class is a union: its members join the outer class.
                nested -= 1
                index += 1
                continue
            if char == "]":
                in_class = False
            elif char == "[" and pattern[index : index + 2] != "[:":
                if pattern[index + 1 : index + 2] == "^":
                    raise _Unsupported("negated nested character classes are not supported")
                nested += 1
                index += 1
                if pattern[index : index + 1] == "]":
                    out.append("\\]")
                    index += 1
                continue
            elif pattern[index : index + 2] in ("&&", "--", "~~"):
                raise _Unsupported("character class set operations are not supported")
            out.append(char)
            index += 1
            continue
        if char == "[":
            atom, repeated = len(out), False
            in_class = True
            out.append(char)
            index += 1
            if index < length and pattern[index] == "^":
                out.append("^")
                index += 1
            # A `]` first in a class is a literal member.
            if index < length and pattern[index] == "]":
                out.append("\\]")
                index += 1
            continue
        if char == "(":
            flags_end = index + 1
            if pattern[index + 1 : index + 2] == "?":
                flags_end = index + 2
                while flags_end < length and pattern[flags_end] in "imsxUuR-":
                    flags_end += 1
            if flags_end > index + 1 and flags_end < length and pattern[flags_end] in ":)":
                flags = pattern[index + 2 : flags_end].replace("u", "").replace("R", "")
                if flags.endswith("-"):
                    flags = flags[:-1]
                index = flags_end + 1
                if pattern[flags_end] == ")":
                    # A flag setting is not an atom: nothing to repeat.
                    out.append(f"(?{flags})" if flags else "")
                    atom, repeated = -1, False
                    continue
                groups.append(len(out))
                out.append(f"(?{flags}:")
                atom, repeated = -1, False
                continue
            groups.append(len(out))
            out.append(char)
            atom, repeated = -1, False
            index += 1
            continue
        if char == ")":
            out.append(char)
            atom, repeated = (groups.pop() if groups else -1), False
            index += 1
            continue
        if char == "|":
            out.append(char)
            atom, repeated = -1, False
            index += 1
            continue
        if char in "*+?{":
            if char == "?" and repeated and not lazy_marked:
                out.append(char)  # lazy modifier of the repetition just written
                lazy_marked = True
                index += 1
                continue
            if repeated and atom >= 0:
                out[atom:] = ["(?:", *out[atom:], ")"]
            if char == "{":
                end = _repetition_end(pattern, index)
                if end == -1 or not out:
                    raise _Unsupported("repetition quantifier expects a valid decimal")
                body = pattern[index + 1 : end - 1].replace(" ", "")
                low_text, comma, high_text = body.partition(",")
                low = int(low_text)
                high = int(high_text) if high_text else None
                largest = max(low, high or 0)
                if largest > _MAX_EXPANDED_REPEAT:
                    raise _Unsupported("repetition count is too large")
                if largest > _MAX_RE2_REPEAT and atom >= 0:
                    unbounded = bool(comma) and high is None
                    bounded_high = high if comma else None
                    out[atom:] = [_counted("".join(out[atom:]), low, bounded_high, unbounded)]
                else:
                    out.append("{" + body + "}")
                index = end
            else:
                out.append(char)
                index += 1
            repeated, lazy_marked = True, False
            continue
        atom, repeated = len(out), False
        out.append(char)
        index += 1
    return "".join(out)


@lru_cache(maxsize=1024)
def compile_regex(pattern: str) -> Any:
    """Compile a Rust-dialect pattern for RE2; HelperError when either side rejects it."""
    try:
        translated = translate(pattern)
    except _Unsupported as error:
        raise _invalid(str(error)) from None
    try:
        return re2.compile(translated, _OPTIONS)
    except re2.error as error:
        detail = error.args[0] if error.args else str(error)
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", errors="replace")
        raise _invalid(str(detail)) from None
    except (UnicodeEncodeError, TypeError) as error:
        raise _invalid(str(error)) from None


def regex_matches(value: str, pattern: str) -> bool:
    compiled = compile_regex(pattern)
    try:
        return compiled.search(value) is not None
    except UnicodeEncodeError:
        # Lone surrogates cannot reach the reference (its strings are UTF-8); no match.
        return False
