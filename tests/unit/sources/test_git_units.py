"""Small pure pieces of the git backend: ref resolution from an advertisement, deadlines."""

from __future__ import annotations

import concurrent.futures
import functools
import threading
import time
from pathlib import Path

import pytest

from rototo_operator.errors import SourceError
from rototo_operator.sources import Credentials, Limits
from rototo_operator.sources.git import AdvertisedRefs, GitCache, _Callbacks
from rototo_operator.sources.trust import KnownHosts

A, B, C, T = "a" * 40, "b" * 40, "c" * 40, "d" * 40

ADVERTISED = AdvertisedRefs(
    refs={
        "HEAD": A,
        "refs/heads/main": A,
        "refs/heads/v1": B,
        "refs/tags/v1": T,
        "refs/tags/light": C,
    },
    peeled={"refs/tags/v1": C},
    head_target="refs/heads/main",
)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (None, ("refs/heads/main", A)),
        ("main", ("refs/heads/main", A)),
        ("v1", ("refs/heads/v1", B)),  # a branch wins over a tag of the same name, like git
        ("refs/tags/v1", ("refs/tags/v1", C)),  # annotated tags are peeled to their commit
        ("light", ("refs/tags/light", C)),
    ],
)
def test_refs_resolve_like_git_clone_branch(ref: str | None, expected: tuple[str, str]) -> None:
    assert ADVERTISED.resolve(ref, "src") == expected


def test_missing_refs_and_headless_remotes() -> None:
    with pytest.raises(SourceError, match="git ref `nope` was not found in `src`"):
        ADVERTISED.resolve("nope", "src")
    with pytest.raises(SourceError, match="advertises no HEAD"):
        AdvertisedRefs({}, {}, None).resolve(None, "src")


def test_callbacks_enforce_the_git_timeout() -> None:
    callbacks = _Callbacks("https://h.example/r.git", None, Limits(git_timeout=0.01), "src")
    time.sleep(0.05)
    with pytest.raises(SourceError, match=r"source limit git_timeout=0\.01 exceeded"):
        callbacks.check_deadline()


def test_known_hosts_patterns() -> None:
    known = KnownHosts(
        "# comment\n"
        "*.example.com,!bad.example.com ssh-ed25519 AAAA\n"
        "[git.example.org]:2222 ssh-ed25519 AAAB\n"
        "broken-line\n"
        "host ssh-ed25519 not-base64!\n"
    )
    assert known.keys_for("a.example.com")[0]
    assert not known.keys_for("bad.example.com")[0]
    assert known.keys_for("[git.example.org]:2222")[0]
    assert not known.keys_for("git.example.org")[0]
    assert not known.keys_for("host")[0]


def test_stagers_starting_together_on_a_new_cache_agree_on_its_keys(tmp_path: Path) -> None:
    """Repositories are keyed by URL and a salted hash of the credentials. The salt file
    appears complete or not at all: a cache user that read it half-written used to key the
    same repository differently (a second clone, and shared ls-remotes not shared)."""
    credentials = Credentials(bearer_token="t")
    for trial in range(40):
        root = tmp_path / f"cache-{trial}"
        # Separate GitCache objects: separate stagers (or processes) on one directory.
        caches = [GitCache(root, Limits()) for _ in range(4)]
        barrier = threading.Barrier(len(caches))

        with concurrent.futures.ThreadPoolExecutor(len(caches)) as pool:
            keys = set(pool.map(functools.partial(_key_together, barrier, credentials), caches))
        assert len(keys) == 1, f"trial {trial}: {keys}"
        assert [path.name for path in root.iterdir()] == ["salt"]


def _key_together(barrier: threading.Barrier, credentials: Credentials, cache: GitCache) -> str:
    barrier.wait()
    return cache._key("https://git.example/config.git", credentials)
