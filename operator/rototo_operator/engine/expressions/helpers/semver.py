"""SemVer versions and Cargo-style requirements, as the Rust `semver` crate reads them.

Versions are strict `MAJOR.MINOR.PATCH[-pre][+build]` (no `v`, no leading zeros, no
spaces). Requirements are comma-separated comparators `op? MAJOR[.MINOR[.PATCH[-pre]]]`
with op one of `= > >= < <= ~ ^` (none means `^`), `*`/`x`/`X` wildcards in the minor or
patch place (a bare `*` must be the whole requirement), at most 32 comparators, spaces
only (no tabs) around ops and commas. A pre-release version matches only when some
comparator names the same MAJOR.MINOR.PATCH with a pre-release. Error texts are the
crate's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rototo_operator.engine.expressions.helpers import HelperError

_U64_MAX = 2**64 - 1
_MAX_COMPARATORS = 32
_POSITION = {
    "major": "major version number",
    "minor": "minor version number",
    "patch": "patch version number",
    "pre": "pre-release identifier",
    "build": "build metadata",
}
_IDENT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-0123456789")


class SemverError(Exception):
    """The crate's parse error, with its Display text."""


def _quoted(char: str) -> str:
    """Rust `{:?}` of a char, as the crate prints it in messages."""
    if char == "\0":
        return "'\\0'"
    escapes = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "'": "\\'", "\\": "\\\\"}
    if char in escapes:
        return f"'{escapes[char]}'"
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F or (not char.isprintable() and char != " "):
        return f"'\\u{{{code:x}}}'"
    return f"'{char}'"


def _unexpected_char(position: str, char: str) -> SemverError:
    return SemverError(f"unexpected character {_quoted(char)} while parsing {_POSITION[position]}")


def _unexpected_after(position: str, char: str) -> SemverError:
    return SemverError(f"unexpected character {_quoted(char)} after {_POSITION[position]}")


def _numeric(text: str, position: str) -> tuple[int, str]:
    length = 0
    value = 0
    while length < len(text) and "0" <= text[length] <= "9":
        if value == 0 and length > 0:
            raise SemverError(f"invalid leading zero in {_POSITION[position]}")
        value = value * 10 + ord(text[length]) - 48
        if value > _U64_MAX:
            raise SemverError(f"value of {_POSITION[position]} exceeds u64::MAX")
        length += 1
    if length:
        return value, text[length:]
    if text:
        raise _unexpected_char(position, text[0])
    raise SemverError(f"unexpected end of input while parsing {_POSITION[position]}")


def _dot(text: str, position: str) -> str:
    if text.startswith("."):
        return text[1:]
    if text:
        raise _unexpected_after(position, text[0])
    raise SemverError(f"unexpected end of input while parsing {_POSITION[position]}")


def _identifier(text: str, position: str) -> tuple[str, str]:
    accumulated = 0
    segment = 0
    has_nondigit = False
    while True:
        at = accumulated + segment
        char = text[at] if at < len(text) else None
        if char is not None and char in _IDENT_CHARS:
            segment += 1
            if not char.isdigit():
                has_nondigit = True
            continue
        if segment == 0:
            if accumulated == 0 and char != ".":
                return "", text
            raise SemverError(f"empty identifier segment in {_POSITION[position]}")
        if (
            position == "pre"
            and segment > 1
            and not has_nondigit
            and text[accumulated:].startswith("0")
        ):
            raise SemverError(f"invalid leading zero in {_POSITION[position]}")
        accumulated += segment
        if char == ".":
            accumulated += 1
            segment = 0
            has_nondigit = False
        else:
            return text[:accumulated], text[accumulated:]


def _pre_key(part: str) -> tuple[int, int, str]:
    if part.isdigit():
        return (0, len(part), part)
    return (1, 0, part)


def compare_pre(left: str, right: str) -> int:
    """Pre-release ordering; the empty pre-release (a release) sorts after all others."""
    if left == right:
        return 0
    if not left:
        return 1
    if not right:
        return -1
    left_parts = left.split(".")
    right_parts = right.split(".")
    for a, b in zip(left_parts, right_parts, strict=False):
        ka, kb = _pre_key(a), _pre_key(b)
        if ka != kb:
            return -1 if ka < kb else 1
    return (len(left_parts) > len(right_parts)) - (len(left_parts) < len(right_parts))


@dataclass(frozen=True, slots=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: str


@dataclass(frozen=True, slots=True)
class Comparator:
    op: str  # "=", ">", ">=", "<", "<=", "~", "^", "*"
    major: int
    minor: int | None
    patch: int | None
    pre: str


@lru_cache(maxsize=4096)
def parse_version(text: str) -> Version:
    if not text:
        raise SemverError("empty string, expected a semver version")
    major, rest = _numeric(text, "major")
    rest = _dot(rest, "major")
    minor, rest = _numeric(rest, "minor")
    rest = _dot(rest, "minor")
    patch, rest = _numeric(rest, "patch")
    position = "patch"
    pre = ""
    if rest.startswith("-"):
        position = "pre"
        pre, rest = _identifier(rest[1:], "pre")
        if not pre:
            raise SemverError("empty identifier segment in pre-release identifier")
    if rest.startswith("+"):
        position = "build"
        build, rest = _identifier(rest[1:], "build")
        if not build:
            raise SemverError("empty identifier segment in build metadata")
    if rest:
        raise _unexpected_after(position, rest[0])
    return Version(major, minor, patch, pre)


def _wildcard(text: str) -> tuple[str, str] | None:
    if text[:1] in ("*", "x", "X"):
        return text[0], text[1:]
    return None


def _op(text: str) -> tuple[str, str]:
    for prefix in (">=", "<=", "=", ">", "<", "~", "^"):
        if text.startswith(prefix):
            return prefix, text[len(prefix) :]
    return "^", text


def _comparator(text: str) -> tuple[Comparator, str, str]:
    op, rest = _op(text)
    default_op = len(rest) == len(text)
    rest = rest.lstrip(" ")
    position = "major"
    major, rest = _numeric(rest, position)
    has_wildcard = False
    minor: int | None = None
    patch: int | None = None
    if rest.startswith("."):
        rest = rest[1:]
        position = "minor"
        wild = _wildcard(rest)
        if wild is not None:
            has_wildcard = True
            if default_op:
                op = "*"
            rest = wild[1]
        else:
            minor, rest = _numeric(rest, position)
    if rest.startswith("."):
        rest = rest[1:]
        position = "patch"
        wild = _wildcard(rest)
        if wild is not None:
            if default_op:
                op = "*"
            rest = wild[1]
        elif has_wildcard:
            raise SemverError("unexpected character after wildcard in version req")
        else:
            patch, rest = _numeric(rest, position)
    pre = ""
    if patch is not None and rest.startswith("-"):
        position = "pre"
        pre, rest = _identifier(rest[1:], "pre")
        if not pre:
            raise SemverError("empty identifier segment in pre-release identifier")
    if patch is not None and rest.startswith("+"):
        position = "build"
        build, rest = _identifier(rest[1:], "build")
        if not build:
            raise SemverError("empty identifier segment in build metadata")
    return Comparator(op, major, minor, patch, pre), position, rest.lstrip(" ")


@lru_cache(maxsize=4096)
def parse_requirement(text: str) -> tuple[Comparator, ...]:
    """The comparators of a requirement (empty for `*`); SemverError when invalid."""
    text = text.lstrip(" ")
    wild = _wildcard(text)
    if wild is not None:
        rest = wild[1].lstrip(" ")
        if not rest:
            return ()
        if rest.startswith(","):
            raise SemverError(
                f"wildcard req ({wild[0]}) must be the only comparator in the version req"
            )
        raise SemverError("unexpected character after wildcard in version req")
    comparators: list[Comparator] = []
    while True:
        try:
            comparator, position, rest = _comparator(text)
        except SemverError:
            wild = _wildcard(text)
            if wild is not None:
                rest = wild[1].lstrip(" ")
                if not rest or rest.startswith(","):
                    raise SemverError(
                        f"wildcard req ({wild[0]}) must be the only comparator in the version req"
                    ) from None
            raise
        comparators.append(comparator)
        if not rest:
            return tuple(comparators)
        if not rest.startswith(","):
            raise SemverError(
                f"expected comma after {_POSITION[position]}, found {_quoted(rest[0])}"
            )
        text = rest[1:].lstrip(" ")
        if len(comparators) == _MAX_COMPARATORS:
            raise SemverError("excessive number of version comparators")


def _cmp(a: int, b: int) -> int:
    return (a > b) - (a < b)


def _exact(c: Comparator, v: Version) -> bool:
    if v.major != c.major:
        return False
    if c.minor is not None and v.minor != c.minor:
        return False
    if c.patch is not None and v.patch != c.patch:
        return False
    return v.pre == c.pre


def _versus(c: Comparator, v: Version) -> int | None:
    """Sign of v against c over the parts c names; None when c stops short (no answer)."""
    if v.major != c.major:
        return _cmp(v.major, c.major)
    if c.minor is None:
        return None
    if v.minor != c.minor:
        return _cmp(v.minor, c.minor)
    if c.patch is None:
        return None
    if v.patch != c.patch:
        return _cmp(v.patch, c.patch)
    return compare_pre(v.pre, c.pre)


def _tilde(c: Comparator, v: Version) -> bool:
    if v.major != c.major:
        return False
    if c.minor is not None and v.minor != c.minor:
        return False
    if c.patch is not None and v.patch != c.patch:
        return v.patch > c.patch
    return compare_pre(v.pre, c.pre) >= 0


def _caret(c: Comparator, v: Version) -> bool:
    if v.major != c.major:
        return False
    if c.minor is None:
        return True
    if c.patch is None:
        return v.minor >= c.minor if c.major > 0 else v.minor == c.minor
    if c.major > 0:
        if v.minor != c.minor:
            return v.minor > c.minor
        if v.patch != c.patch:
            return v.patch > c.patch
    elif c.minor > 0:
        if v.minor != c.minor:
            return False
        if v.patch != c.patch:
            return v.patch > c.patch
    elif v.minor != c.minor or v.patch != c.patch:
        return False
    return compare_pre(v.pre, c.pre) >= 0


def _matches_one(c: Comparator, v: Version) -> bool:
    op = c.op
    if op in ("=", "*"):
        return _exact(c, v)
    if op == "^":
        return _caret(c, v)
    if op == "~":
        return _tilde(c, v)
    sign = _versus(c, v)
    if op == ">":
        return sign == 1
    if op == "<":
        return sign == -1
    if op == ">=":
        return _exact(c, v) or sign == 1
    return _exact(c, v) or sign == -1


def requirement_matches(comparators: tuple[Comparator, ...], version: Version) -> bool:
    if not all(_matches_one(c, version) for c in comparators):
        return False
    if not version.pre:
        return True
    return any(
        c.major == version.major and c.minor == version.minor and c.patch == version.patch and c.pre
        for c in comparators
    )


def semver_matches(version_text: str, requirement_text: str) -> bool:
    """The `semver(value, requirement)` helper; HelperError with the reference's text."""
    try:
        version = parse_version(version_text)
    except SemverError as error:
        raise HelperError(f"semver version is invalid: {error}") from None
    try:
        requirement = parse_requirement(requirement_text)
    except SemverError as error:
        raise HelperError(f"semver requirement is invalid: {error}") from None
    return requirement_matches(requirement, version)
