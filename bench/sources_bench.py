"""What deciding "unchanged" costs, against a full stage, for every remote source form.

Run: `.venv/bin/python bench/sources_bench.py [--files 200] [--rounds 20]`.

Real servers on loopback (the same ones the tests use): git over `file://`, over HTTPS
(`git http-backend`, Basic auth, a private CA) and over SSH (OpenSSH sshd + git-upload-pack),
and an HTTPS archive server with ETags. For each form it prints the median time and the
server requests of: a probe when nothing changed, a stage when nothing changed (warm git
cache: no object transfer), a stage after a new commit (incremental fetch), and a cold
stage (empty cache). Needs the system `git`; the SSH rows need `sshd` (`make test-deps`).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from tests.support import git_servers  # noqa: E402

from rototo_operator import sources  # noqa: E402


def workspace_files(count: int, version: int) -> dict[str, str]:
    files = {"ws/rototo-workspace.toml": "schema_version = 1\n"}
    for index in range(count):
        files[f"ws/variables/v{index:04}.toml"] = (
            f'schema_version = 1\ndescription = "v{index}"\ntype = "int"\n\n'
            f"[resolve]\ndefault = {index + version}\n"
        )
    return files


def median_ms(rounds: int, action: Callable[[], object]) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def row(form: str, measure: str, ms: float, requests: str) -> None:
    print(f"| {form} | {measure} | {ms:.1f} ms | {requests} |")


def bench_git(
    form: str,
    *,
    repo: git_servers.Repo,
    source: str,
    credentials: sources.Credentials | None,
    rounds: int,
    files: int,
    requests: Callable[[], int] | None,
    work: Path,
) -> None:
    def counted(action: Callable[[], object]) -> tuple[float, str]:
        before = requests() if requests else 0
        ms = median_ms(rounds, action)
        if requests is None:
            return ms, "n/a"
        return ms, f"{(requests() - before) / rounds:g} per call"

    cold_dirs = iter(range(10_000))

    def cold() -> None:
        with sources.Stager(work / f"cold-{next(cold_dirs)}", credentials=credentials) as fresh:
            fresh.stage(source).cleanup()

    with sources.Stager(work / f"warm-{form}", credentials=credentials) as stager:
        stager.stage(source).cleanup()
        ms, sent = counted(lambda: stager.probe(source))
        row(form, "probe, unchanged (ls-remote)", ms, sent)
        ms, sent = counted(lambda: stager.stage(source).cleanup())
        row(form, "stage, unchanged (warm cache)", ms, sent)
        versions = iter(range(1, 10_000))

        def new_commit_then_stage() -> None:
            repo.commit(workspace_files(files, next(versions)))
            started = time.perf_counter()
            stager.stage(source).cleanup()
            timings.append((time.perf_counter() - started) * 1000)

        timings: list[float] = []
        for _ in range(max(3, rounds // 4)):
            new_commit_then_stage()
        row(form, "stage after a new commit (incremental)", statistics.median(timings), "")
    ms, sent = counted(cold)
    row(form, "stage, cold cache (full clone)", ms, sent)


def targz(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    git_servers.require_git()
    print(f"workspace: {args.files} variable files; median of {args.rounds} rounds\n")
    print("| source | measure | median | server requests |")
    print("| --- | --- | ---: | --- |")
    with tempfile.TemporaryDirectory(prefix="rototo-sources-bench-") as scratch:
        work = Path(scratch)
        repo = git_servers.Repo(work)
        repo.commit(workspace_files(args.files, 0))
        bench_git(
            "git+file",
            repo=repo,
            source=f"{repo.file_url}#main:ws",
            credentials=None,
            rounds=args.rounds,
            files=args.files,
            requests=None,
            work=work,
        )

        pki = git_servers.make_pki(work / "pki")
        with git_servers.GitHttpsServer(pki, repo.bare.parent, username="u", password="p") as https:
            assert isinstance(https, git_servers.GitHttpsServer)
            credentials = sources.Credentials(username="u", password="p", ca_bundle=pki.ca_pem)
            bench_git(
                "git+https",
                repo=repo,
                source=f"git+{https.url('config.git')}#main:ws",
                credentials=credentials,
                rounds=args.rounds,
                files=args.files,
                requests=lambda: len(https.requests),
                work=work,
            )

        if not os.access(git_servers.SSHD, os.X_OK):
            print(f"| git+ssh | skipped: no OpenSSH sshd at {git_servers.SSHD} | | |")
        else:
            keys = git_servers.make_ssh_keys()
            with git_servers.SshdGitServer(keys, repo.bare.parent) as ssh:
                credentials = sources.Credentials(
                    ssh_identity=keys.client_private, ssh_known_hosts=ssh.known_hosts_line()
                )
                bench_git(
                    "git+ssh",
                    repo=repo,
                    source=ssh.url("config.git") + "#main:ws",
                    credentials=credentials,
                    rounds=args.rounds,
                    files=args.files,
                    requests=lambda: len(ssh.commands),
                    work=work,
                )

        with git_servers.ArchiveServer(pki, token="t") as server:
            assert isinstance(server, git_servers.ArchiveServer)
            server.archives["/ws.tar.gz"] = git_servers.Archive(
                targz(workspace_files(args.files, 0)), etag='"v0"'
            )
            url = server.url("ws.tar.gz") + "#:ws"
            credentials = sources.Credentials(bearer_token="t", ca_bundle=pki.ca_pem)
            with sources.Stager(work / "archive", credentials=credentials) as stager:
                for measure, action in (
                    ("probe, unchanged (HEAD)", lambda: stager.probe(url)),
                    ("stage (download + extract)", lambda: stager.stage(url).cleanup()),
                ):
                    before = len(server.requests)
                    ms = median_ms(args.rounds, action)
                    sent = (len(server.requests) - before) / args.rounds
                    row("https archive", measure, ms, f"{sent:g} per call")


if __name__ == "__main__":
    main()
