"""Source string grammar: accepted forms and every refusal, with its reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rototo_operator.errors import SourceError
from rototo_operator.sources import parse_source, redact

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("text", "kind", "location", "ref", "subdir"),
    [
        ("examples/basic", "local", "examples/basic", None, None),
        ("/srv/config", "local", "/srv/config", None, None),
        ("file:///srv/config", "file", "/srv/config", None, None),
        ("file://localhost/srv/config", "file", "/srv/config", None, None),
        (
            "git+file:///repos/c.git#main:workspace",
            "git",
            "file:///repos/c.git",
            "main",
            "workspace",
        ),
        (
            "git+https://h.example/acme/c.git#main",
            "git",
            "https://h.example/acme/c.git",
            "main",
            None,
        ),
        ("git+https://h.example/c.git#:ws/prod", "git", "https://h.example/c.git", None, "ws/prod"),
        ("git+https://h.example/c.git", "git", "https://h.example/c.git", None, None),
        (
            "git+ssh://git@h.example:2222/c.git#v1.2",
            "git",
            "ssh://git@h.example:2222/c.git",
            "v1.2",
            None,
        ),
        (
            "GIT+HTTPS://h.example/c.git#refs/heads/x",
            "git",
            "https://h.example/c.git",
            "refs/heads/x",
            None,
        ),
        ("https://h.example/c.tar.gz", "archive", "https://h.example/c.tar.gz", None, None),
        (
            "https://h.example/c.tar.gz#:ws//prod/",
            "archive",
            "https://h.example/c.tar.gz",
            None,
            "ws/prod",
        ),
    ],
)
def test_supported_forms(
    text: str, kind: str, location: str, ref: str | None, subdir: str | None
) -> None:
    spec = parse_source(text)
    assert (spec.kind, spec.location, spec.ref, spec.subdir) == (kind, location, ref, subdir)
    assert spec.text == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http://h.example/c.tar.gz", "http:// workspace sources are not supported; use https://"),
        ("git+http://h.example/c.git", "git workspace source scheme is not supported: git+http"),
        ("git+ftp://h.example/c.git", "not supported: git+ftp"),
        ("ftp://h.example/c.tar.gz", "workspace source scheme is not supported: ftp"),
        ("file:///srv/config#main", "file:// workspace sources do not support fragments"),
        ("file:///srv/config#:sub", "file:// workspace sources do not support fragments"),
        ("file://otherhost/srv", "absolute local path"),
        ("https://h.example/c.tar.gz#main", "only support #:subdir fragments"),
        ("git+file:///r.git#--upload-pack=/tmp/evil", "must not begin with '-'"),
        ("git+https://h.example/c.git#-main:x", "must not begin with '-'"),
        ("git+https://h.example/c.git#ma..in", "not a valid git ref name"),
        ("git+https://h.example/c.git#a b", "not a valid git ref name"),
        ("git+https://h.example/c.git#main:../up", "subdir is unsafe"),
        ("git+https://h.example/c.git#main:/abs", "subdir is unsafe (absolute path)"),
        ("git+https://h.example/c.git#main:a/./b", "subdir is unsafe"),
        ("https://h.example/c.tar.gz#:..", "subdir is unsafe"),
        ("https://", "URI is invalid"),
        ("https://#main", "URI is invalid"),
        ("://x/y", "URI is invalid"),
        ("git+https:///nohost.git", "has no host"),
        ("https://h.example:notaport/c.tar.gz", "URI is invalid"),
        ("", "nonblank"),
        ("   ", "nonblank"),
        ("git+https://h.example/c.git\n#main", "control character"),
    ],
)
def test_refusals(text: str, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse_source(text)
    assert message in str(caught.value)


def test_full_sha_is_immutable_and_lowercased() -> None:
    spec = parse_source(f"git+https://h.example/c.git#{SHA.upper()}:ws")
    assert spec.immutable
    assert spec.ref == SHA
    assert not parse_source("git+https://h.example/c.git#main").immutable
    assert not parse_source("git+https://h.example/c.git").immutable
    assert not parse_source("https://h.example/c.tar.gz").immutable


def test_local_forms_and_hosts() -> None:
    assert parse_source("ws").is_local
    assert parse_source("file:///ws").is_local
    assert parse_source("git+file:///r.git").is_local
    assert not parse_source("git+ssh://git@H.example/r.git").is_local
    assert parse_source("git+ssh://git@H.example/r.git").host == "h.example"
    assert parse_source("https://a.example/x.tar.gz").host == "a.example"
    assert parse_source("ws").host is None


def test_with_subdir_keeps_ref_and_builds_canonical_text() -> None:
    spec = parse_source("git+https://h.example/c.git#main:prod")
    assert spec.with_subdir("base").text == "git+https://h.example/c.git#main:base"
    assert spec.with_subdir(None).text == "git+https://h.example/c.git#main"
    archive = parse_source("https://h.example/c.tar.gz#:prod")
    assert archive.with_subdir("base").text == "https://h.example/c.tar.gz#:base"


def test_redaction_hides_passwords_only() -> None:
    text = "git+https://bob:s3cret@h.example/c.git#main"
    assert redact(text) == "git+https://bob:***@h.example/c.git#main"
    assert "s3cret" not in parse_source(text).redacted()
    assert redact("git+ssh://git@h.example/c.git") == "git+ssh://git@h.example/c.git"
    with pytest.raises(SourceError) as caught:
        parse_source("git+http://bob:s3cret@h.example/c.git")
    assert "s3cret" not in str(caught.value)


@given(st.text(max_size=80))
def test_any_text_parses_or_fails_with_source_error(text: str) -> None:
    try:
        spec = parse_source(text)
    except SourceError:
        return
    assert spec.text == text


@given(
    st.sampled_from(["git+https://h.example/c.git", "git+ssh://git@h.example/c.git"]),
    st.one_of(st.none(), st.sampled_from(["main", "v1.2", "refs/heads/x", SHA])),
    st.lists(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,8}", fullmatch=True), max_size=3),
)
def test_with_subdir_round_trips(base: str, ref: str | None, parts: list[str]) -> None:
    spec = parse_source(base + (f"#{ref}" if ref else ""))
    derived = spec.with_subdir("/".join(parts) or None)
    again = parse_source(derived.text)
    assert (again.location, again.ref, again.subdir) == (
        derived.location,
        derived.ref,
        derived.subdir,
    )
