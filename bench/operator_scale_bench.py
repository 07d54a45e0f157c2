"""Many Workspaces on one operator process against a real API server: cost per minute.

Run: `.venv/bin/python bench/operator_scale_bench.py [--workspaces 1000] [--window 60]`.

Starts the local control plane (tests/cluster, binaries cached), installs the CRD, makes a
git repository holding a small workspace, and starts `rototo-operator run` (standalone,
local sources allowed, narrowed to one namespace). Then:

1. creates N Workspaces on that one repository (period 60 s) and times until all are
   Ready and published;
2. for a quiet window (nothing changes) measures the operator's CPU share and resident
   set, and from the API server's own `apiserver_request_total` the requests and the
   Workspace status writes per minute (the bench itself stays silent in the window);
3. commits a change and times until every ConfigMap carries the new fingerprint (the
   commit-to-ConfigMap latency is bounded by the period).

Needs the system `git` and the control-plane binaries (built by `make test` or
`tests/cluster/build.sh`).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from tests.cluster.launcher import ControlPlane, Kubectl, free_port, locate_bin_dir  # noqa: E402

OPERATOR = Path(sys.executable).with_name("rototo-operator")
CRD = ROOT / "crds" / "workspaces.rototo.dev.yaml"
NAMESPACE = "scale"
MANAGED_SELECTOR = "app.kubernetes.io/managed-by=rototo-operator"
VARIABLE = 'schema_version = 1\ndescription = "limit"\ntype = "int"\n\n[resolve]\ndefault = {}\n'
REQUESTS = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$", re.M)
TICKS = os.sysconf("SC_CLK_TCK")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.invalid"}
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit(repo: Path, value: int) -> str:
    (repo / "variables" / "limit.toml").write_text(VARIABLE.format(value))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"limit {value}")
    return git(repo, "rev-parse", "HEAD")


LABEL = re.compile(r'(\w+)="([^"]*)"')


def request_counts(kubectl: Kubectl) -> collections.Counter[tuple[str, str, str]]:
    """API requests so far by (verb, resource, subresource), from the API server's metrics."""
    text = kubectl("get", "--raw", "/metrics").stdout
    counts: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for labels, value in REQUESTS.findall(text):
        found = dict(LABEL.findall(labels))
        key = (found.get("verb", ""), found.get("resource", ""), found.get("subresource", ""))
        counts[key] += int(float(value))
    return counts


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_until(check: Callable[[], bool], what: str, timeout: float) -> float:
    """Seconds until `check()` holds, polling every half second."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"{what} did not happen within {timeout:.0f} s")


def published_count(kubectl: Kubectl, fingerprint: str) -> int:
    body = json.loads(
        kubectl("get", "configmaps", "-n", NAMESPACE, "-l", MANAGED_SELECTOR, "-o", "json").stdout
    )
    annotation = "rototo.dev/fingerprint"
    return sum(
        1
        for item in body["items"]
        if (item["metadata"].get("annotations") or {}).get(annotation) == fingerprint
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--period", type=int, default=60)
    args = parser.parse_args()
    if shutil.which("git") is None:
        sys.exit("operator_scale_bench needs the system `git`")
    with tempfile.TemporaryDirectory(prefix="rototo-scale-bench-") as scratch:
        work = Path(scratch)
        plane = ControlPlane(work / "control-plane", locate_bin_dir(build=True))
        plane.start()
        operator: subprocess.Popen[bytes] | None = None
        try:
            kubectl = Kubectl(locate_bin_dir() / "kubectl", plane.kubeconfig)
            kubectl("apply", "-f", str(CRD))
            kubectl("wait", "--for=condition=Established", "crd/workspaces.rototo.dev")
            kubectl("create", "namespace", NAMESPACE)
            repo = work / "repo"
            repo.mkdir()
            git(repo, "init", "-q", "-b", "main")
            (repo / "rototo-workspace.toml").write_text("schema_version = 1\n")
            (repo / "variables").mkdir()
            first = commit(repo, 100)

            log = (work / "operator.log").open("wb")
            operator = subprocess.Popen(
                [
                    str(OPERATOR),
                    "run",
                    "--standalone",
                    "--allow-local-sources",
                    *("--namespace", NAMESPACE, "--metrics-port", str(free_port())),
                    *("--cache-dir", str(work / "cache")),
                ],
                env={**os.environ, "KUBECONFIG": str(plane.kubeconfig)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            items = [
                {
                    "apiVersion": "rototo.dev/v1alpha1",
                    "kind": "Workspace",
                    "metadata": {"name": f"ws-{index:04}", "namespace": NAMESPACE},
                    "spec": {"source": f"git+file://{repo}#main", "periodSeconds": args.period},
                }
                for index in range(args.workspaces)
            ]
            body = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
            created = time.monotonic()
            kubectl("apply", "-f", "-", input=body)
            wait_until(
                lambda: published_count(kubectl, f"git:{first}") == args.workspaces,
                "every Workspace published",
                timeout=600,
            )
            print(f"{args.workspaces} Workspaces on one repository, period {args.period} s")
            print(f"  kubectl apply -> all published: {time.monotonic() - created:.1f} s")
            time.sleep(5)  # let the initial attempts' trailing writes settle

            cpu_before = process_cpu_seconds(operator.pid)
            before = request_counts(kubectl)
            started = time.monotonic()
            time.sleep(args.window)
            elapsed = time.monotonic() - started
            cpu = process_cpu_seconds(operator.pid) - cpu_before
            delta = request_counts(kubectl)
            delta.subtract(before)
            delta[("GET", "", "")] -= 1  # the bench's own metrics scrape
            per_minute = 60 / elapsed
            print(f"  quiet window {elapsed:.0f} s (nothing changes):")
            print(f"    operator CPU {100 * cpu / elapsed:.1f} % of one core")
            print(f"    operator resident set {rss_mib(operator.pid):.0f} MiB")
            total = sum(count for count in delta.values() if count > 0) * per_minute
            print(f"    API requests {total:.0f} /min (the bench is silent), of which:")
            for (verb, resource, sub), count in delta.most_common(6):
                if count > 0:
                    what = f"{verb} {resource}{'/' + sub if sub else ''}"
                    print(f"      {what}: {count * per_minute:.0f} /min")

            second = commit(repo, 200)
            first_update = wait_until(
                lambda: published_count(kubectl, f"git:{second}") > 0,
                "a ConfigMap updated",
                timeout=args.period * 3 + 120,
            )
            rest = wait_until(
                lambda: published_count(kubectl, f"git:{second}") == args.workspaces,
                "every ConfigMap updated",
                timeout=args.period * 3 + 120,
            )
            print(f"  commit -> first ConfigMap updated: {first_update:.1f} s")
            print(f"  commit -> every ConfigMap updated: {first_update + rest:.1f} s")
        finally:
            if operator is not None:
                operator.terminate()
                operator.wait(60)
            plane.stop()


if __name__ == "__main__":
    main()
