"""Whole-string glob matching with the Rust `glob` crate's rules (default options).

`?` one character, `*` any run (including `/`), `[abc]`/`[a-z]` a set, `[!…]` its
complement (a `]` right after `[` or `[!` is a member), `**` only as a whole path
component (`a/**/b`, `**/x`, `x/**`); `***` and `a**` are errors. No escapes: a
literal metacharacter is written as `[*]`. Case-sensitive, by Unicode scalar.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rototo_operator.engine.expressions.helpers import HelperError

_CHAR = 0
_ANY_CHAR = 1
_ANY_SEQUENCE = 2
_ANY_RECURSIVE = 3
_ANY_WITHIN = 4
_ANY_EXCEPT = 5

# A set member is a (low, high) range; a single character is (c, c).
Specifiers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: int
    char: str = ""
    specifiers: Specifiers = ()


_MATCH = 0
_SUB_MISMATCH = 1
_ENTIRE_MISMATCH = 2


class GlobPattern:
    """A compiled pattern; `matches(text)` answers for the whole string."""

    __slots__ = ("_tokens",)

    def __init__(self, tokens: tuple[_Token, ...]) -> None:
        self._tokens = tokens

    def matches(self, text: str) -> bool:
        return self._match_from(True, text, 0, 0) == _MATCH

    def _match_from(self, follows_separator: bool, text: str, at: int, first: int) -> int:
        tokens = self._tokens
        for index in range(first, len(tokens)):
            token = tokens[index]
            kind = token.kind
            if kind in (_ANY_SEQUENCE, _ANY_RECURSIVE):
                result = self._match_from(follows_separator, text, at, index + 1)
                if result != _SUB_MISMATCH:
                    return result
                while at < len(text):
                    char = text[at]
                    at += 1
                    follows_separator = char == "/"
                    if kind == _ANY_RECURSIVE and not follows_separator:
                        continue
                    result = self._match_from(follows_separator, text, at, index + 1)
                    if result != _SUB_MISMATCH:
                        return result
                continue
            if at >= len(text):
                return _ENTIRE_MISMATCH
            char = text[at]
            at += 1
            if kind == _CHAR:
                ok = char == token.char
            elif kind == _ANY_CHAR:
                ok = True
            elif kind == _ANY_WITHIN:
                ok = _in_specifiers(token.specifiers, char)
            else:
                ok = not _in_specifiers(token.specifiers, char)
            if not ok:
                return _SUB_MISMATCH
            follows_separator = char == "/"
        return _MATCH if at >= len(text) else _SUB_MISMATCH


def _in_specifiers(specifiers: Specifiers, char: str) -> bool:
    return any(low <= char <= high for low, high in specifiers)


def _specifiers(chars: str) -> Specifiers:
    out: list[tuple[str, str]] = []
    index = 0
    while index < len(chars):
        if index + 3 <= len(chars) and chars[index + 1] == "-":
            out.append((chars[index], chars[index + 2]))
            index += 3
        else:
            out.append((chars[index], chars[index]))
            index += 1
    return tuple(out)


def _error(position: int, message: str) -> HelperError:
    return HelperError(
        f"glob pattern is invalid: Pattern syntax error near position {position}: {message}"
    )


@lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> GlobPattern:
    """Compile `pattern`; raise HelperError with the reference's message when invalid."""
    chars = pattern
    tokens: list[_Token] = []
    index = 0
    while index < len(chars):
        char = chars[index]
        if char == "?":
            tokens.append(_Token(_ANY_CHAR))
            index += 1
        elif char == "*":
            start = index
            while index < len(chars) and chars[index] == "*":
                index += 1
            count = index - start
            if count > 2:
                raise _error(start + 2, "wildcards are either regular `*` or recursive `**`")
            if count == 1:
                tokens.append(_Token(_ANY_SEQUENCE))
                continue
            recursive_message = "recursive wildcards must form a single path component"
            if not (index == 2 or chars[index - count - 1] == "/"):
                raise _error(start - 1, recursive_message)
            if index < len(chars) and chars[index] == "/":
                index += 1
            elif index != len(chars):
                raise _error(index, recursive_message)
            # Consecutive recursive wildcards collapse, except right after the first token.
            if not (len(tokens) > 1 and tokens[-1].kind == _ANY_RECURSIVE):
                tokens.append(_Token(_ANY_RECURSIVE))
        elif char == "[":
            if index + 4 <= len(chars) and chars[index + 1] == "!":
                close = chars.find("]", index + 3)
                if close != -1:
                    tokens.append(
                        _Token(_ANY_EXCEPT, specifiers=_specifiers(chars[index + 2 : close]))
                    )
                    index = close + 1
                    continue
            elif index + 3 <= len(chars) and chars[index + 1] != "!":
                close = chars.find("]", index + 2)
                if close != -1:
                    tokens.append(
                        _Token(_ANY_WITHIN, specifiers=_specifiers(chars[index + 1 : close]))
                    )
                    index = close + 1
                    continue
            raise _error(index, "invalid range pattern")
        else:
            tokens.append(_Token(_CHAR, char))
            index += 1
    return GlobPattern(tuple(tokens))
