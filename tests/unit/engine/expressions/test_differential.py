"""Differential tests: our evaluator against the reference engine `rototo==0.1.0a5`.

Each test sends one or two batches to the reference (one process per batch) and
compares every (expression, context) outcome: the boolean, or the exact error text
(regex syntax errors: the stable prefix only). Skips when the reference is absent.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any

import pytest

from rototo_operator.engine.expressions import ExpressionSyntaxError, parse_expression
from tests.support import oracle
from tests.unit.engine.expressions.differential import Case, mismatches, write_workspace

pytestmark = [pytest.mark.oracle, pytest.mark.timeout(600)]


def check(cases: list[Case]) -> None:
    problems = mismatches(cases)
    assert not problems, f"{len(problems)} of {len(cases)} differ:\n" + "\n".join(problems[:40])


def test_core_operators_and_value_semantics() -> None:
    values: list[Any] = [
        None, True, False, 0, 1, -1, 1.0, -0.0, 2.5, 2**63 - 1, 2**63, 2**64 - 1, -(2**63),
        9223372036854775808.0, 9007199254740993, 9007199254740992.0, 1e300, "", "a", "B",
        "é", "10", "9", [], [1], [1.0], ["a"], {}, {"a": 1}, {"a": 1.0}, [[1]],
    ]  # fmt: skip
    cases: list[Case] = []
    for a in values:
        for b in values:
            for op in ("==", "!=", "<", ">=", "in"):
                cases.append((f"context.a {op} context.b", {"a": a, "b": b}))
            cases.append(("contains(context.a, context.b)", {"a": a, "b": b}))
        for literal in ("1", "1.0", "-0", '"a"', "null", "true", '[1, "a"]', "[]", '"é"', "[[1]]"):
            cases.append((f"context.a == {literal}", {"a": a}))
            cases.append((f"context.a in {literal}", {"a": a}))
            cases.append((f"{literal} <= context.a", {"a": a}))
            cases.append((f"context.a > {literal}", {"a": a}))
        for needle in ('"a"', "1", '"é"'):
            cases.append((f"contains(context.a, {needle})", {"a": a}))
        for bound in ("9007199254740993", "9007199254740992.0", "-0.0", "1e300", "2.5"):
            cases.append((f"context.a < {bound}", {"a": a}))
            cases.append((f"context.a >= {bound}", {"a": a}))
    check(cases)


def test_paths_short_circuit_errors_and_functions() -> None:
    context = {
        "u": {"t": "premium", "e": "ava@example.com", "n": None, "r": ["admin", "b"], "s": "héllo"},
        "p": {"f": ["x", "y"], "n": {"a~b": 1, "c/d": 2, "": 3}},
        "a.b": 7,
    }
    whens = [
        "has(context.u.n)", "has(context.u.zz)", "has(context.u.t.x)", "has(context)",
        "has(context.u, context.u)", "has()", 'has("x")', "has(entry.x)",
        "!has(context.u.zz) || context.u.zz == 1", "false && context.zz", "true || context.zz",
        "true && context.zz == 1", "context.zz == 1 && false", "!context.u.t",
        "context.u.t || true", "context.u.n", "context.u", "context", "1", '"x"', "[true]",
        "!!true", "!(1 == 1)", "1 == 1 == true", "1 < 2 == true", '"a" < "b" < "c"',
        'prefix(context.u.e, "ava@")', 'startsWith(context.u.e, "ava")',
        'ends_with(context.u.e, 1)', 'prefix(1, "a")', "prefix(context.u.e)",
        'prefix(context.u.e, "a", "b")', 'prefix(context.zz, "a")', 'contains(context.u.s, "é")',
        'present(context.p, "/f/0")', 'present(context.p, "/f/00")', 'present(context.p, "/f/+1")',
        'present(context.p, "")', 'present(context.p, "f")', 'present(context.p, "/n/a~0b")',
        'present(context.p, "/n/c~1d")', 'present(context.p, "/n/")', 'missing(context.p, 1)',
        'path(context.p, "/f/1") == "y"', 'path(context.p, "/zz") == 1', "size(context.u.r)",
        "size(context.u.s) == 5", 'size("日") == 3', "size(1) == 1", "unknown(context.zz)",
        "unknown(1)", 'qualifier["t"]', "qualifier.f || qualifier.t", 'context["a.b"] == 7',
        "entry.x == 1", "entry == 1", 'regex(context.u.e, 1)', "semver(context.u.e)",
        "time_between(1, 2)", "cidr(context.u.e)", 'bucket(context.u.e, "s", 0)',
        'context.u.t in "premium"', "context.zz in []", "context.u.n in [null]",
        'context.u.s == "héllo"', 'prefix(context.u.s, "hé")', '"é" < "f"',
        'timeAfter(context.u.e, "x")', "matches(context.u.e, context.u.e)",
    ]  # fmt: skip
    check([(when, context) for when in whens])


def test_bucket_hashing_over_hundreds_of_keys() -> None:
    keys: list[Any] = [f"acct-{i:04d}" for i in range(300)]
    keys += ["", "é", "日本", 'a"b', "tab\there", "\u0000", "emoji😀", 0, 1, -1, 2**63, 2**64 - 1]
    keys += [1.0, -0.0, 0.1, 1e15, 1e16, 1e17, 1e-5, 1e-6, 1.5e-7, 1e300, 5e-324, 100.0]
    keys += [True, False, None, [], [1, "a", None], {}, {"b": 1, "a": 2}, {"z": [{"y": 2, "x": 1}]}]
    cases: list[Case] = []
    for key in keys:
        for low in range(0, 10_000, 2_500):
            cases.append((f'bucket(context.k, "s-2026", {low}, {low + 2500})', {"k": key}))
    for salt in ("", "é", "a:b", "日本"):
        for key in keys[:25]:
            cases.append((f"bucket(context.k, {json.dumps(salt, ensure_ascii=False)}, 0, 5000)",
                          {"k": key}))  # fmt: skip
    for when in (
        "bucket(context.k, context.s, 0, 10)",
        'bucket(context.k, "s", 0.0, 10)',
        'bucket(context.k, "s", -5, 20000)',
        'bucket(context.k, "s", context.lo, 10)',
    ):
        cases.append((when, {"k": "x", "s": 5, "lo": 1.0}))  # fmt: skip
    check(cases)


def test_semver_requirements_and_versions() -> None:
    versions = [
        "1.2.3", "1.2.3-alpha", "1.2.3-alpha.1", "1.2.3-beta", "1.2.3-rc.10", "1.2.3-rc.9",
        "1.2.3+build", "0.0.1", "0.1.5", "0.2.0", "2.0.0-pre", "1.7.3", "01.2.3", "1.2",
        "v1.2.3", "", "1.2.3-", "1.2.3-01", "1.2.3-a..b", "18446744073709551616.0.0",
    ]  # fmt: skip
    requirements = [
        "*", "x", "1", "1.2", "^1.2.3", "^0.1", "^0.1.2", "^0.0.1", "^0", "~1", "~1.2",
        "~1.2.3", "=1.2.3", ">1.2.3", ">=1.2.3", "<1.2.3", "<=1.2.3", ">=1, <2",
        ">= 1.2.3 , < 2", "1.2.*", "1.*", "1.*.3", "*, 1", "1, *", ">=1.2.3-alpha",
        "^1.2.3-alpha", "<2.0.0-pre", "", "1.2.3,", "1 2", "=>1", "~>1.2", "1.2-beta",
        ">=1\t", "x1", ",".join(["1"] * 32), ",".join(["1"] * 33), "1 || 2",
    ]  # fmt: skip
    cases: list[Case] = [
        ("semver(context.v, context.r)", {"v": v, "r": r}) for v in versions for r in requirements
    ]
    cases += [('semver(context.v, ">=1.2.3, <2.0.0")', {"v": v}) for v in versions]
    cases.append(("semver(context.v, context.r)", {"v": 1, "r": "1"}))
    check(cases)


def test_rfc3339_time_helpers() -> None:
    stamps = [
        "2026-07-10T10:00:00Z", "2026-07-10t10:00:00z", "2026-07-10T12:00:00+02:00",
        "2026-07-10T10:00:00.5Z", "2026-07-10T10:00:00.123456789Z",
        "2026-07-10T10:00:00.1234567890Z", "2026-07-10T10:00:00.Z", "2026-07-10 10:00:00Z",
        "2026-07-10T10:00Z", "2026-07-10T10:00:00", "2026-07-10T10:00:00+0200",
        "2026-07-10T10:00:00-00:00", "2026-07-10T10:00:00+23:59", "2026-07-10T10:00:00+24:00",
        "2024-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-07-10T23:59:60Z", "0000-01-01T00:00:00Z", "2026-07-10T10:00:00Z ",
        "2026-07-10T09:59:59.999999999Z", "2026-07-10T11:00:00+01:00", "",
    ]  # fmt: skip
    cases: list[Case] = []
    for a in stamps:
        for b in stamps[:6]:
            for helper in ("time_after", "time_at_or_after", "timeBefore", "time_at_or_before"):
                cases.append((f"{helper}(context.a, context.b)", {"a": a, "b": b}))
        cases.append(('time_between(context.a, "2026-07-10T10:00:00Z", "2026-07-10T11:00:00Z")',
                      {"a": a}))  # fmt: skip
        cases.append(("time_between(context.a, context.b, context.c)",
                      {"a": a, "b": "2026-07-10T10:00:00Z", "c": "garbage"}))  # fmt: skip
    check(cases)


def test_cidr_blocks_and_addresses() -> None:
    addresses = [
        "10.1.2.3", "192.168.001.10", "01.2.3.4", "0.0.0.0", "256.1.1.1", "1.2.3", " 1.2.3.4",
        "fd00::1", "::", "fe80::1%eth0", "::ffff:10.1.2.3", "2001:DB8::1", "1:2:3:4:5:6:7::",
        "1:2:3:4:5:6:7:8:9", "1::2::3", "[::1]", "1:2:3:4:5:6:1.2.3.4", "", "١.٢.٣.٤",
    ]  # fmt: skip
    blocks: list[Any] = [
        "10.0.0.0/8", "10.1.2.3", "0.0.0.0/0", "10.0.0.0/33", "10.0.0.0/+8", "10.0.0.0/08",
        "10.0.0.0/", "10.0.0.0/8/9", "fd00::/8", "::/0", "::1/129", "::ffff:0:0/96",
        "10.1.2.255/24", ["192.168.0.0/16", "10.0.0.0/8"], ["bad", "10.0.0.0/8"], [1], 5, [],
    ]  # fmt: skip
    check([("cidr(context.ip, context.b)", {"ip": ip, "b": b}) for ip in addresses for b in blocks])


def test_glob_patterns() -> None:
    patterns = [
        "*", "?", "a*", "a?c", "[abc]", "[!abc]", "[a-c]x", "[]]", "[!]]", "[!]", "[", "a[",
        "a/**/b", "**/b", "a/**", "**", "a**", "**a", "a/**b", "***", "**/**", "[a-]", "[z-a]",
        "*.toml", "a\\*", "[é-ü]", "[!!]", "a/**/",
    ]  # fmt: skip
    texts = [
        "", "a", "abc", "aXc", "a/b", "a/x/y/b", "x/b", "xb", "]", "!", "a-", "é", "ü",
        "config.toml", "a\\*", "a/",
    ]  # fmt: skip
    check([("glob(context.s, context.p)", {"s": s, "p": p}) for p in patterns for s in texts])


def test_regex_dialect() -> None:
    patterns = [
        "^a", "^ava@.*\\.com$", "\\d+", "^\\d+$", "^\\w+$", "^\\s$", "\\S", "\\W", "[\\d]",
        "[\\w-]+", "[^\\d]", "\\bfoo\\b", "(?i)straße", "(?i)k", "^.$", "(?s)a.b", "(?m)^b",
        "\\pL", "\\p{Greek}", "\\p{Letter}", "\\PL", "\\x41", "\\x{41}", "\\u0041", "\\u{41}",
        "[[:alpha:]]+", "a{2,3}", "a{,2}", "a{", "{", "(a+)+$", "(?P<n>a)", "(?<n>a)",
        "(a)\\1", "\\0", "[a[bc]]", "[", "(", "a|", "", "\\Aa", "a\\z", "a\\Z", "\\Qa\\E",
        "(?x) a b # c", "(?u)\\w", "(?-u)\\w", "\\e", "[]a]", "[^]a]", "\\-", "\\ ", "(?U)a+",
        "(?R)a$", "é", "^.{5}$", "[\\s\\S]", "a(?=b)", "[z-a]", "\\p{Han}", "\\pN",
        "[\\S]", "[\\W]", "[\\D]", "[^\\W\\d]", "a**", "(ab)+*", "a{2000}", "a{1500,}",
        "^a{2,1200}$", "a{3,2}", "a+??", "(?:)*a",
    ]  # fmt: skip
    texts = [
        "a", "ava@example.com", "123", "١٢٣", "ABC", "é", "foo", "a foo b", "\u00a0", "\u2003",
        "STRASSE", "straße", "\u212a", "a\nb", "a_b-c", "Ωμέγα", "aaa", "", "日本", "héllo",
        "ⓐ", "a" * 40 + "!",
    ]  # fmt: skip
    cases: list[Case] = [
        ("regex(context.s, context.p)", {"s": s, "p": p}) for p in patterns for s in texts
    ]
    cases += [
        (f"regex(context.s, {json.dumps(p, ensure_ascii=False)})", {"s": "ava@example.com"})
        for p in patterns[:12]
    ]
    check(cases)


def test_syntax_acceptance_matches_reference_load() -> None:
    texts = [
        "true", "context.a == 1", 'qualifier["t"]', "qualifier.t", "context.a.b-c == 1",
        "1.", "-.5 < 1", "!!true", 'context["x y"] == 1', "x(1)", "'single' == \"single\"",
        "context.a = 1", "a & b", "account.tier", "qualifier[context.a]", "context.", "(true",
        "[1 2] == 1", "true false", '"\\u0041" == "A"', "1e == 1", "- 1 == 1", ".5 == 1",
        "é == 1", "18446744073709551616 == 1", "1e400 == 1", "", "qualifier.1",
    ]  # fmt: skip
    oracle.require()
    with tempfile.TemporaryDirectory(prefix="rototo-expr-syntax-") as tmp:
        requests = []
        accepted = []
        for index, text in enumerate(texts):
            directory = Path(tmp) / f"ws{index}"
            try:
                parse_expression(text)
                accepted.append(True)
            except ExpressionSyntaxError:
                accepted.append(False)
            write_workspace(directory, ["true"])
            (directory / "qualifiers" / "q0.toml").write_text(
                f"schema_version = 1\nwhen = {json.dumps(text, ensure_ascii=False)}\n"
            )
            requests.append({"op": "lint", "source": str(directory)})
        answers = oracle.ask(requests)
    disagreements = []
    for text, ours, answer in zip(texts, accepted, answers, strict=True):
        rules = {item["rule"] for item in answer["ok"]["diagnostics"]}
        theirs = "rototo/qualifier-when-shape" not in rules
        if ours != theirs:
            disagreements.append(f"{text!r}: ours accepts={ours}, reference rules {sorted(rules)}")
    assert not disagreements, "\n".join(disagreements)


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 2 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, 1, -1, 42, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), 2**53 + 1])
    if kind == 3:
        return rng.choice([0.5, -0.0, 2.5, 1e16, 1e-7, 42.0, 1e300])
    if kind in (4, 5, 6):
        return rng.choice(["", "a", "gold", "é", "10.1.2.3", "1.2.3", "2026-07-10T10:00:00Z"])
    if kind == 7:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice("abn"): _random_value(rng, depth + 1) for _ in range(rng.randrange(3))}


_RANDOM_LITERALS = [
    "true", "false", "null", "0", "-1", "2.5", "1e3", "18446744073709551615", '""', '"a"',
    '"gold"', '"é"', '"10.0.0.0/8"', '">=1.0, <2"', '"*"', '"^a"', "[]", '[1, "a"]',
]  # fmt: skip
_RANDOM_CALLS = [
    ("has", 1), ("prefix", 2), ("suffix", 2), ("contains", 2), ("regex", 2), ("glob", 2),
    ("semver", 2), ("time_after", 2), ("time_between", 3), ("cidr", 2), ("bucket", 4),
    ("size", 1), ("path", 2), ("present", 2), ("nope", 1),
]  # fmt: skip


def _random_expression(rng: random.Random, depth: int = 0) -> str:
    choice = rng.randrange(10 if depth < 3 else 4)
    if choice == 0:
        return rng.choice(_RANDOM_LITERALS)
    if choice in (1, 2):
        segments = [rng.choice(["a", "b", "n", "user", "x-y"]) for _ in range(rng.randrange(3))]
        return "context" + "".join(f".{s}" for s in segments)
    if choice == 3:
        return rng.choice(['qualifier["t"]', "qualifier.f"])
    if choice in (4, 5, 6):
        op = rng.choice(["&&", "||", "==", "!=", "<", "<=", ">", ">=", "in"])
        left = _random_expression(rng, depth + 1)
        return f"({left} {op} {_random_expression(rng, depth + 1)})"
    if choice == 7:
        return "!" + _random_expression(rng, depth + 1)
    if choice == 8:
        items = [_random_expression(rng, depth + 1) for _ in range(rng.randrange(3))]
        return "[" + ", ".join(items) + "]"
    name, arity = rng.choice(_RANDOM_CALLS)
    args = [_random_expression(rng, depth + 1) for _ in range(arity)]
    return f"{name}({', '.join(args)})"


def test_random_expressions_and_contexts() -> None:
    rng = random.Random(20261125)
    cases: list[Case] = []
    for _ in range(2500):
        context = {key: _random_value(rng) for key in rng.sample(["a", "b", "n", "user"], 3)}
        cases.append((_random_expression(rng), context))
    check(cases)
