"""Helper modules on their own: bucket hashing, semver, glob, RFC 3339, CIDR, regex."""

from __future__ import annotations

from typing import Any

import pytest

from rototo_operator.engine.expressions import values
from rototo_operator.engine.expressions.helpers import HelperError, cidr, glob, regex, timestamps
from rototo_operator.engine.expressions.helpers import bucket as bucket_helper
from rototo_operator.engine.expressions.helpers import semver as semver_helper


@pytest.mark.parametrize(
    ("salt", "value", "expected"),
    [
        # Values published by the reference (its unit test and the rollout guide).
        ("known-salt", "user-123", 9913),
        ("search-ranking-hybrid-2026-06", "acct-0001", 2978),
        ("search-ranking-hybrid-2026-06", "acct-0005", 134),
    ],
)
def test_bucket_matches_published_values(salt: str, value: str, expected: int) -> None:
    assert bucket_helper.bucket_value(salt, value) == expected


def test_bucket_is_fnv1a_over_salt_colon_value() -> None:
    # FNV-1a 64 test vector: the empty input hashes to the offset basis.
    assert bucket_helper.fnv1a64(b"") == 0xCBF29CE484222325
    assert bucket_helper.fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    state = bucket_helper.salt_state("s")
    assert bucket_helper.bucket_from_state(state, "v") == bucket_helper.fnv1a64(b"s:v") % 10_000


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("x", "x"),
        (None, "null"),
        (True, "true"),
        (42, "42"),
        (-7, "-7"),
        (1.0, "1.0"),
        (-0.0, "-0.0"),
        (0.1, "0.1"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e+16"),
        (1.2345678901234568e16, "1.2345678901234568e+16"),
        (1e-5, "0.00001"),
        (1e-6, "1e-6"),
        (1.5e-7, "1.5e-7"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        ([1, "a", None], '[1,"a",null]'),
        ({"b": 1, "a": [2.5]}, '{"a":[2.5],"b":1}'),
        ({"q": 'a"\\\n\x01\x7f/é'}, '{"q":"a\\"\\\\\\n\\u0001\x7f/é"}'),
    ],
)
def test_canonical_text_is_serde_json_compact(value: Any, text: str) -> None:
    assert values.canonical_text(value) == text


@pytest.mark.parametrize(
    ("version", "requirement", "expected"),
    [
        ("1.2.3", "*", True),
        ("1.2.3-alpha", "*", False),
        ("1.4.0", "^1.2", True),
        ("2.0.0", "^1.2", False),
        ("0.1.5", "^0.1", True),
        ("0.2.0", "^0.1", False),
        ("0.0.2", "^0.0.1", False),
        ("1.2.9", "~1.2.3", True),
        ("1.3.0", "~1.2.3", False),
        ("1.9.0", "~1", True),
        ("1.5.0", ">=1, <2", True),
        ("2.0.0", ">=1, <2", False),
        ("1.2.7", "1.2.*", True),
        ("1.3.0", "1.2.*", False),
        ("1.2.3-beta", ">=1.2.3-alpha", True),
        ("1.2.4-beta", ">=1.2.3-alpha", False),
        ("1.2.3", ">=1.2.3-alpha", True),
        ("1.2.3+build", "=1.2.3", True),
        ("1.2.3-rc.10", ">1.2.3-rc.9", True),
        ("1.2.3-alpha.1", ">1.2.3-alpha", True),
        ("1.2.3-1", "<1.2.3-a", True),
    ],
)
def test_semver_requirements(version: str, requirement: str, expected: bool) -> None:
    assert semver_helper.semver_matches(version, requirement) is expected


@pytest.mark.parametrize(
    ("version", "requirement", "message"),
    [
        (
            "v1.2.3",
            "*",
            "semver version is invalid: "
            "unexpected character 'v' while parsing major version number",
        ),
        ("01.2.3", "*", "semver version is invalid: invalid leading zero in major version number"),
        (
            "1.2.3-01",
            "*",
            "semver version is invalid: invalid leading zero in pre-release identifier",
        ),
        (
            "1.2.3-",
            "*",
            "semver version is invalid: empty identifier segment in pre-release identifier",
        ),
        (
            "1.2.3 ",
            "*",
            "semver version is invalid: unexpected character ' ' after patch version number",
        ),
        ("", "*", "semver version is invalid: empty string, expected a semver version"),
        (
            "18446744073709551616.0.0",
            "*",
            "semver version is invalid: value of major version number exceeds u64::MAX",
        ),
        (
            "1.2.3",
            "1, *",
            "semver requirement is invalid: "
            "wildcard req (*) must be the only comparator in the version req",
        ),
        (
            "1.2.3",
            "1.*.3",
            "semver requirement is invalid: unexpected character after wildcard in version req",
        ),
        (
            "1.2.3",
            "1 2",
            "semver requirement is invalid: expected comma after major version number, found '2'",
        ),
        (
            "1.2.3",
            "",
            "semver requirement is invalid: "
            "unexpected end of input while parsing major version number",
        ),
        (
            "1.2.3",
            ",".join(["1"] * 33),
            "semver requirement is invalid: excessive number of version comparators",
        ),
    ],
)
def test_semver_errors(version: str, requirement: str, message: str) -> None:
    with pytest.raises(HelperError) as caught:
        semver_helper.semver_matches(version, requirement)
    assert str(caught.value) == message


def test_semver_allows_exactly_32_comparators() -> None:
    assert semver_helper.semver_matches("1.0.0", ",".join(["1"] * 32)) is True


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("*", "", True),
        ("*", "a/b", True),
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("[abc]x", "bx", True),
        ("[!abc]x", "bx", False),
        ("[a-c]", "d", False),
        ("[]]", "]", True),
        ("[!]]", "a", True),
        ("[z-a]", "m", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/xb", False),
        ("**/b", "b", True),
        ("**/b", "x/b", True),
        ("**/b", "xb", False),
        ("*.toml", "config.toml", True),
        ("é*", "éa", True),
    ],
)
def test_glob_matching(pattern: str, text: str, expected: bool) -> None:
    assert glob.compile_glob(pattern).matches(text) is expected


@pytest.mark.parametrize(
    ("pattern", "position", "message"),
    [
        ("[", 0, "invalid range pattern"),
        ("a[b", 1, "invalid range pattern"),
        ("[!]", 0, "invalid range pattern"),
        ("***", 2, "wildcards are either regular `*` or recursive `**`"),
        ("a**", 0, "recursive wildcards must form a single path component"),
        ("**a", 2, "recursive wildcards must form a single path component"),
    ],
)
def test_glob_errors(pattern: str, position: int, message: str) -> None:
    with pytest.raises(HelperError) as caught:
        glob.compile_glob(pattern)
    assert str(caught.value) == (
        f"glob pattern is invalid: Pattern syntax error near position {position}: {message}"
    )


def test_glob_many_stars_stays_fast() -> None:
    pattern = glob.compile_glob("*a*a*a*a*a*a*a*b")
    assert pattern.matches("a" * 60) is False


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("1970-01-01T00:00:00Z", (0, 0)),
        ("1970-01-01T01:00:00+01:00", (0, 0)),
        ("1970-01-01t00:00:00z", (0, 0)),
        ("1969-12-31T23:59:59.5Z", (-1, 500_000_000)),
        ("2024-02-29T00:00:00Z", (1_709_164_800, 0)),
        ("2026-07-10T10:00:00.123456789-00:00", (1_783_677_600, 123_456_789)),
        ("0000-01-01T00:00:00Z", (-62_167_219_200, 0)),
    ],
)
def test_rfc3339_accepted(text: str, instant: tuple[int, int]) -> None:
    assert timestamps.parse_instant(text) == instant


@pytest.mark.parametrize(
    "text",
    [
        "2026-07-10 10:00:00Z",
        "2026-07-10T10:00Z",
        "2026-07-10T10:00:00",
        "2026-07-10T10:00:00+0200",
        "2026-07-10T10:00:00+24:00",
        "2026-07-10T10:00:00.Z",
        "2026-07-10T10:00:00.1234567890Z",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-07-10T23:59:60Z",
        "2026-07-10T10:00:00Z ",
        "２026-07-10T10:00:00Z",
        "",
    ],
)
def test_rfc3339_rejected(text: str) -> None:
    assert timestamps.parse_instant(text) is None


@pytest.mark.parametrize(
    ("address", "blocks", "expected"),
    [
        ("10.1.2.3", ["10.0.0.0/8"], True),
        ("10.1.2.3", ["10.1.2.3"], True),
        ("10.1.2.4", ["10.1.2.3"], False),
        ("10.1.2.3", ["0.0.0.0/0"], True),
        ("10.1.2.3", ["10.1.2.255/24"], True),
        ("10.1.2.3", ["10.0.0.0/+8"], True),
        ("fd00::1", ["fd00::/8"], True),
        ("::ffff:10.1.2.3", ["10.0.0.0/8"], False),
        ("::ffff:10.1.2.3", ["::ffff:0:0/96"], True),
    ],
)
def test_cidr_membership(address: str, blocks: list[str], expected: bool) -> None:
    parsed = cidr.require_address(address)
    assert any(cidr.contains(cidr.require_block(b), parsed) for b in blocks) is expected


@pytest.mark.parametrize(
    "address", ["01.2.3.4", "1.2.3", "256.1.1.1", "fe80::1%eth0", " 1.2.3.4", "1::2::3", "١.٢.٣.٤"]
)
def test_cidr_rejects_addresses(address: str) -> None:
    assert cidr.parse_address(address) is None


@pytest.mark.parametrize(
    "block", ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/9", "::1/129", "x/8"]
)
def test_cidr_rejects_blocks(block: str) -> None:
    with pytest.raises(HelperError, match=f"^CIDR block is invalid: {block}$"):
        cidr.require_block(block)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"^\d+$", "١٢٣", True),
        (r"^\w+$", "Ωμέγα", True),
        (r"^\w$", "ⓐ", True),
        (r"^\s$", "\u00a0", True),
        (r"^\S$", "\u00a0", False),
        (r"^\W$", "é", False),
        (r"^[\w-]+$", "a_b-é", True),
        (r"^\x{41}\u0042\u{43}\U00000044$", "ABCD", True),
        (r"^\p{Letter}+$", "abc", True),
        (r"(?i)straße", "STRASSE", False),
        (r"(?i)k", "\u212a", True),
        (r"^.$", "\n", False),
        (r"(?s)^.$", "\n", True),
        (r"^[a[bc]]+$", "abcb", True),
        (r"(?-u)^\w$", "é", False),
        ("(?x) a b # comment", "ab", True),
        ("^a**b$", "aab", True),
        (r"^[\S]$", "\u00a0", False),
        (r"^[\W]$", "é", False),
        (r"^[\W]$", "-", True),
        (r"^[\D]$", "١", False),
        ("^a{2000}$", "a" * 2000, True),
        ("^a{2000}$", "a" * 1999, False),
        ("^a{2,1200}$", "a" * 1200, True),
        ("^a{2,1200}$", "a" * 1201, False),
        (r"^ava@.*\.com$", "ava@example.com", True),
    ],
)
def test_regex_rust_dialect(pattern: str, text: str, expected: bool) -> None:
    assert regex.regex_matches(text, pattern) is expected


@pytest.mark.parametrize(
    "pattern", ["[", r"(a)\1", r"\Qa\E", "a{", r"[a-z&&[^aeiou]]", "a(?=b)", r"\<a"]
)
def test_regex_forms_rust_rejects_or_we_cannot_honour_are_errors(pattern: str) -> None:
    with pytest.raises(HelperError, match=r"^regex is invalid: regex parse error"):
        regex.compile_regex(pattern)


def test_catastrophic_backtracking_pattern_is_linear() -> None:
    # Exponential on a backtracking engine; RE2 answers at once (correctness asserted).
    text = "a" * 5000 + "!"
    assert regex.regex_matches(text, r"^(a+)+$") is False
    assert regex.regex_matches("a" * 5000, r"^(a+)+$") is True
    assert regex.regex_matches(text, r"(x+x+)+y") is False


def test_regex_on_lone_surrogates_does_not_raise() -> None:
    assert regex.regex_matches("\ud800", "a") is False
