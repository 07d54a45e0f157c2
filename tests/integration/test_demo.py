"""`make demo` end to end: the script runs on its own control plane and exits 0.

The demo starts its own control plane (not the session's), so this is the same run a user
gets from `make demo` on a fresh machine, minus building the binaries (already built for
the session). The assertions follow the story the demo tells: Ready and published, the SDK
answer, the new value after a commit, the failure in status with the old value still
served after a broken commit, and a clean stop.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_tells_the_whole_story_and_exits_zero(cluster_bin_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--bin-dir", str(cluster_bin_dir)],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, f"{out}\n{done.stderr}"
    fingerprints = re.findall(r"served from fingerprint (git:[0-9a-f]{40})", out)
    assert len(fingerprints) == 2, out
    assert fingerprints[0] != fingerprints[1], "the commit did not produce a new fingerprint"
    assert re.search(r"account-config\s+True\s+[0-9a-f]{8}\s+false\s+0", out), out
    assert '"api_requests_per_minute": 30000' in out
    assert "now answers (no restart, no reload call): api_requests_per_minute = 60000" in out
    assert re.search(r"refreshed: [0-9a-f]{8} -> [0-9a-f]{8}", out), out
    assert re.search(r"account-config\s+False\s+[0-9a-f]{8}\s+false\s+1", out), out
    assert "6 is less than the minimum of 60" in out
    assert "RefreshFailed" in out
    still = f"still answers api_requests_per_minute = 60000 from {fingerprints[1]}"
    assert still in out, out
    assert "operator stopped (exit status 0)" in out
    assert "control plane stopped" in out
    work = re.search(r"kubeconfig: (/\S*rototo-demo-[^/\s]+)/", out)
    assert work, out
    assert not processes_mentioning(work.group(1)), "the demo left processes running"
    assert not Path(work.group(1)).exists(), "the demo left its temp directory behind"


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(f"{proc.name}: {cmdline}")
    return found
