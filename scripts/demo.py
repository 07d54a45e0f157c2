"""`make demo`: the whole product on one machine, step by step, in plain words.

1. start a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager as
   local processes, from tests/cluster) and install the Workspace CRD;
2. make a git repository from examples/account-config (system git, in a temp dir);
3. start the operator as a process (`rototo-operator run --allow-local-sources`);
4. apply a Workspace over `git+file://...#main`, wait for Ready, show `kubectl get workspaces`;
5. copy the published ConfigMap into a directory laid out as the kubelet lays out a
   ConfigMap volume, and resolve `account-limits` from it with the SDK's RefreshingWorkspace,
   as a pod would;
6. commit a change: the operator publishes a new fingerprint, the SDK serves the new value;
7. commit a broken change: the Workspace reports the failure in its status, and the last
   known good value is still served (by the ConfigMap and by the SDK);
8. stop everything and exit 0.

There is no kubelet here: step 5's "kubelet sync" is the demo copying the ConfigMap with the
same atomic `..data` swap the kubelet performs (tests/support/kubelet_volume.py).

Usage: python scripts/demo.py [--bin-dir DIR] [--keep-temp]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import shutil
import socket
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.cluster.launcher import (  # noqa: E402
    ClusterError,
    ControlPlane,
    Kubectl,
    KubectlError,
    locate_bin_dir,
)
from tests.support.kubelet_volume import KubeletVolume  # noqa: E402

import rototo_operator as rototo  # noqa: E402
from rototo_operator.errors import RototoError  # noqa: E402
from scripts import gitrepo, kube  # noqa: E402

EXAMPLE = REPO / "examples" / "account-config"
NAMESPACE = "demo"
WORKSPACE = "account-config"
VARIABLE = "account-limits"
CONTEXT = {"account": {"plan": "enterprise"}}
NEW_LIMIT = 60000
# Below the catalog schema's minimum of 60: lint rejects it, as review should have.
BROKEN_LIMIT = 6

_steps = itertools.count(1)


def say(text: str) -> None:
    print(text, flush=True)


def step(title: str) -> None:
    say(f"\n== {next(_steps)}. {title}")


def show(text: str) -> None:
    say(textwrap.indent(text.rstrip("\n"), "   "))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Demo:
    def __init__(self, work: Path, bin_dir: Path) -> None:
        self.work = work
        self.bin_dir = bin_dir
        self.control_plane = ControlPlane(work / "control-plane", bin_dir)
        self.kubectl: Kubectl | None = None
        self.operator: kube.OperatorProcess | None = None
        self.volume = KubeletVolume(work / "pod" / "etc" / "rototo" / WORKSPACE)
        self.workspace: rototo.RefreshingWorkspace | None = None

    # -- helpers -------------------------------------------------------------------------

    @property
    def k(self) -> Kubectl:
        assert self.kubectl is not None
        return self.kubectl

    def status(self) -> dict[str, Any]:
        body = json.loads(
            self.k("get", "workspace", WORKSPACE, "-n", NAMESPACE, "-o", "json").stdout
        )
        status: dict[str, Any] = body.get("status") or {}
        return status

    def ready(self) -> str | None:
        for condition in self.status().get("conditions") or []:
            if condition.get("type") == "Ready":
                return str(condition.get("status"))
        return None

    def wait(self, probe: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
        describe = self.operator.log_tail if self.operator else None
        return kube.eventually(probe, what=what, timeout=timeout, describe=describe)

    def get_workspaces(self, *extra: str) -> None:
        show(self.k("get", "workspaces", "-n", NAMESPACE, *extra).stdout)

    def refresh_now(self) -> None:
        """`rototo-operator refresh NAME --wait`: ask for a refresh and print its outcome."""
        say(f"   $ rototo-operator refresh {WORKSPACE} -n {NAMESPACE} --wait")
        done = kube.run(
            [
                sys.executable,
                "-m",
                "rototo_operator",
                "refresh",
                WORKSPACE,
                "-n",
                NAMESPACE,
                "--wait",
                "--timeout",
                "90",
            ],
            env={"KUBECONFIG": str(self.control_plane.kubeconfig)},
            check=False,
            timeout=120,
        )
        show(done.stdout + done.stderr)

    def kubelet_sync(self) -> str:
        """Copy the ConfigMap into the pod's volume with the kubelet's atomic swap."""
        cm = json.loads(self.k("get", "configmap", WORKSPACE, "-n", NAMESPACE, "-o", "json").stdout)
        payload = {key: value.encode() for key, value in (cm.get("data") or {}).items()}
        for key, value in (cm.get("binaryData") or {}).items():
            payload[key] = base64.b64decode(value)
        self.volume.write(payload)
        fingerprint: str = cm["metadata"]["annotations"]["rototo.dev/fingerprint"]
        return fingerprint

    async def resolve(self) -> tuple[Any, str | None]:
        assert self.workspace is not None
        status = await self.workspace.status()
        resolution = await self.workspace.resolve_variable(VARIABLE, CONTEXT)
        return resolution.value, status.current_fingerprint

    async def wait_for_sdk(self, fingerprint: str) -> None:
        assert self.workspace is not None
        deadline = time.monotonic() + 30
        while (await self.workspace.status()).current_fingerprint != fingerprint:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the SDK did not pick up {fingerprint}")
            await asyncio.sleep(0.1)

    # -- the story ---------------------------------------------------------------------------

    async def run(self) -> None:
        step("Start a local Kubernetes control plane (etcd, kube-apiserver, controller manager)")
        await asyncio.to_thread(self.control_plane.start)
        self.kubectl = Kubectl(self.bin_dir / "kubectl", self.control_plane.kubeconfig)
        say(f"   API server ready; kubeconfig: {self.control_plane.kubeconfig}")
        say("   (no kubelet: pods are accepted but never run, so step 5 plays the kubelet)")

        step("Install the Workspace CRD")
        show(self.k("apply", "-f", str(REPO / "crds" / "workspaces.rototo.dev.yaml")).stdout)
        self.k("wait", "--for=condition=Established", "crd/workspaces.rototo.dev")
        self.k("create", "namespace", NAMESPACE)

        step("Create a git repository from examples/account-config")
        repo = await asyncio.to_thread(
            gitrepo.GitRepo.from_directory,
            EXAMPLE,
            self.work / "account-config.git",
            "account-config: first reviewed version",
        )
        say(f"   {repo.path} on branch main at {repo.head()[:12]}")

        step("Start the operator as a local process")
        port = free_port()
        self.operator = kube.OperatorProcess(
            [
                "--allow-local-sources",
                "--standalone",
                f"--metrics-port={port}",
                "--metrics-address=127.0.0.1",
                f"--cache-dir={self.work / 'operator-cache'}",
            ],
            kubeconfig=self.control_plane.kubeconfig,
            log_path=self.work / "operator.log",
        ).start()
        say(
            f"   rototo-operator run --allow-local-sources --standalone  (log: {self.work}/"
            "operator.log)"
        )

        step(f"Apply a Workspace over {repo.url}")
        manifest = {
            "apiVersion": "rototo.dev/v1alpha1",
            "kind": "Workspace",
            "metadata": {"name": WORKSPACE, "namespace": NAMESPACE},
            # Manual refreshes drive the story. Periodic rounds fall at the repository's
            # phase, anywhere in the period: a day-long period keeps one from landing
            # between a commit and its manual refresh (with 300 s, about 1 run in 100).
            "spec": {
                "source": repo.url,
                "periodSeconds": 86400,
                "maxStalenessSeconds": 172800,
            },
        }
        show(self.k("apply", "-f", "-", input=json.dumps(manifest)).stdout)
        await asyncio.to_thread(self.wait, lambda: self.ready() == "True", "the Workspace Ready")
        say("   The operator staged the branch, linted and compiled it, and published it:")
        say(f"   $ kubectl get workspaces -n {NAMESPACE}")
        self.get_workspaces()
        first = self.status()["currentFingerprint"]

        step("Resolve account-limits in a 'pod' through the SDK, from the published ConfigMap")
        published = self.kubelet_sync()
        say(
            f"   ConfigMap {NAMESPACE}/{WORKSPACE} (fingerprint {published}) copied to "
            f"{self.volume.target} as the kubelet mounts it"
        )
        self.workspace = await rototo.RefreshingWorkspace.load(
            str(self.volume.target), period_seconds=0.5
        )
        value, fingerprint = await self.resolve()
        say(f"   resolve_variable({VARIABLE!r}, {json.dumps(CONTEXT)}) =")
        show(json.dumps(value, indent=2))
        say(f"   served from fingerprint {fingerprint}")
        assert fingerprint == first, (fingerprint, first)

        step(f"Commit a reviewed change: enterprise api_requests_per_minute -> {NEW_LIMIT}")
        repo.set_enterprise_api_limit(NEW_LIMIT)
        sha = repo.commit_all(f"Raise the enterprise API limit to {NEW_LIMIT}/min")
        say(f"   committed {sha[:12]} on main")
        self.refresh_now()
        second = f"git:{sha}"
        await asyncio.to_thread(
            self.wait, lambda: self.status().get("currentFingerprint") == second, "the publish"
        )
        self.get_workspaces()
        say("   kubelet sync: the pod's volume swaps to the new ConfigMap version")
        self.kubelet_sync()
        await self.wait_for_sdk(second)
        value, fingerprint = await self.resolve()
        say(
            f"   the same RefreshingWorkspace now answers (no restart, no reload call): "
            f"api_requests_per_minute = {value['api_requests_per_minute']}"
        )
        say(f"   served from fingerprint {fingerprint}")

        step(
            f"Commit a broken change: api_requests_per_minute -> {BROKEN_LIMIT} (schema minimum "
            "is 60)"
        )
        repo.set_enterprise_api_limit(BROKEN_LIMIT)
        bad = repo.commit_all("Typo: enterprise API limit")
        say(f"   committed {bad[:12]} on main")
        self.refresh_now()
        await asyncio.to_thread(
            self.wait,
            lambda: self.ready() == "False" and self.status().get("consecutiveFailures", 0) > 0,
            "the failure to show in status",
        )
        say(f"   $ kubectl get workspaces -n {NAMESPACE} -o wide")
        self.get_workspaces("-o", "wide")
        status = self.status()
        say("   status.lastError:")
        show(textwrap.fill(str(status.get("lastError")), 96))
        say(f"   status.currentFingerprint is still {status.get('currentFingerprint')}")
        events = self.k(
            "get",
            "events",
            "-n",
            NAMESPACE,
            "--field-selector",
            f"involvedObject.name={WORKSPACE}",
            "--sort-by=.lastTimestamp",
            "-o",
            "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message",
        ).stdout
        say("   Events on the Workspace:")
        show("\n".join(line[:150] for line in events.splitlines()))
        still = self.kubelet_sync()
        say(f"   the ConfigMap still holds {still} (the last known good version)")
        await asyncio.sleep(1.5)  # a few SDK refresh periods: nothing new to pick up
        value, fingerprint = await self.resolve()
        say(
            f"   the pod still answers api_requests_per_minute = "
            f"{value['api_requests_per_minute']} from {fingerprint}"
        )
        assert fingerprint == second, (fingerprint, second)
        assert value["api_requests_per_minute"] == NEW_LIMIT

    async def stop(self) -> None:
        step("Stop everything")
        if self.workspace is not None:
            await self.workspace.shutdown()
            say("   SDK refresh loop stopped")
        if self.operator is not None:
            code = await asyncio.to_thread(self.operator.stop)
            say(f"   operator stopped (exit status {code})")
        await asyncio.to_thread(self.control_plane.stop)
        say("   control plane stopped")


async def main_async(bin_dir: Path, keep: bool) -> int:
    work = Path(tempfile.mkdtemp(prefix="rototo-demo-"))
    demo = Demo(work, bin_dir)
    failure: str | None = None
    try:
        await demo.run()
    except (ClusterError, kube.CommandError, KubectlError, TimeoutError, RototoError) as exc:
        failure = f"{type(exc).__name__}: {exc}"
    except AssertionError as exc:
        failure = f"an expected result did not appear: {exc}"
    finally:
        if failure is not None and demo.operator is not None:
            say("\n   operator log (last lines):")
            show(demo.operator.log_tail())
        await demo.stop()
        if keep or failure is not None:
            say(f"   files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if failure is not None:
        say(f"\ndemo failed: {failure}")
        return 1
    say(
        "\nDone: the operator published, refreshed, and kept serving the last known good "
        "version through a broken commit."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="rototo-operator, end to end on this machine")
    parser.add_argument("--bin-dir", type=Path, default=None, help="control-plane binaries")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp directory")
    args = parser.parse_args(argv)
    say("rototo-operator demo: git -> operator -> ConfigMap -> pod SDK, on this machine")
    if shutil.which("git") is None:
        say("demo: the `git` command is needed to make the demo's repository; install git")
        return 1
    try:
        bin_dir = args.bin_dir or locate_bin_dir(build=True)
    except ClusterError as exc:
        say(f"demo failed: {exc}")
        return 1
    try:
        return asyncio.run(main_async(bin_dir, args.keep_temp))
    except KeyboardInterrupt:
        say("\ndemo interrupted; everything it started was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
