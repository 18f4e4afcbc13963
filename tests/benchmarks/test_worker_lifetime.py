"""Workers die with their parent: SIGKILL of `stemscan bench --workers 2` leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROC = Path("/proc")


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids of every process (Linux /proc)."""
    table: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if fields[0] == "Z":  # a zombie is dead already
            continue
        table.setdefault(int(fields[1]), []).append(int(entry.name))
    return table


def _descendants(pid: int) -> set[int]:
    table, found, stack = _children(), set(), [pid]
    while stack:
        for child in table.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def _rows(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        return sqlite3.connect(path, timeout=5).execute("SELECT COUNT(*) FROM episodes").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
@pytest.mark.skipif(not (PROC / "self" / "stat").exists(), reason="needs /proc to list processes")
def test_sigkill_of_bench_leaves_no_workers_and_resumes(tmp_path):
    path = tmp_path / "r.sqlite"
    n_seeds = 16
    cmd = [sys.executable, "-m", "stemscan.cli", "bench", "--agents", "random,raster", "--scenes", "lattice-defects",
           "--seeds", str(n_seeds), "--budgets", "0.3", "--env-kwargs", json.dumps({"image_size": 128, "patch_size": 16}),
           "--workers", "2", "--no-progress", "--out", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        family: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            family |= _descendants(proc.pid)
            if _rows(path) >= 2 and len(family) >= 3:  # forkserver or tracker, and two workers at work
                break
            time.sleep(0.05)
        family |= _descendants(proc.pid)
        running = proc.poll() is None
        if running:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert running, "the run finished before it could be killed; enlarge the grid"
        assert len(family) >= 3, family
        gone_by = time.monotonic() + 5
        while time.monotonic() < gone_by and any(_alive(pid) for pid in family):
            time.sleep(0.1)
        left = sorted(pid for pid in family if _alive(pid))
        assert not left, f"processes of the killed bench still running: {left}"
    finally:
        for pid in _descendants(proc.pid) | {proc.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    before = _rows(path)
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{before} already stored" in rerun.stdout
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0] == 2 * n_seeds
    distinct = conn.execute("SELECT COUNT(*) FROM (SELECT DISTINCT agent, agent_kwargs, scene, env_kwargs, seed FROM episodes)")
    assert distinct.fetchone()[0] == 2 * n_seeds
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


_CHILD = """
import os, sys, time
from stemscan.benchmarks.worker import die_with_parent
import stemscan.benchmarks.worker as w
if sys.argv[1] != "prctl":
    w._linux_parent_death_signal = lambda sig: False
if sys.argv[1] == "watchdog" and hasattr(os, "pidfd_open"):
    del os.pidfd_open
print(die_with_parent(poll_s=0.05), os.getpid(), flush=True)
time.sleep(60)
"""

_PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], stdout=sys.stdout)
time.sleep(60)
"""


@pytest.mark.parametrize("mechanism", ["prctl", "pidfd", "watchdog"])
def test_die_with_parent_mechanisms(mechanism, tmp_path):
    """The child of a SIGKILLed parent exits within a second or two: by prctl, a pidfd or the polling thread."""
    if mechanism in ("prctl", "pidfd") and not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    out = tmp_path / "child.txt"
    with out.open("w") as handle:
        parent = subprocess.Popen([sys.executable, "-c", _PARENT, _CHILD, mechanism], stdout=handle,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not out.read_text().strip():
            time.sleep(0.05)
        used, child = out.read_text().split()
        assert used == mechanism
        child_pid = int(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        gone_by = time.monotonic() + 5
        while time.monotonic() < gone_by and _pid_running(child_pid):
            time.sleep(0.05)
        assert not _pid_running(child_pid)
    finally:
        for pid in (parent.pid,):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


def _pid_running(pid: int) -> bool:
    if (PROC / "self").exists():
        return _alive(pid)
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


@pytest.mark.slow
def test_the_driver_itself_never_gets_the_parent_death_signal(tmp_path, monkeypatch):
    """`workers=1` runs in the driver: it must not arm die_with_parent (the pool initializer alone does)."""
    from stemscan.benchmarks import expand_grid, run_grid
    from stemscan.benchmarks import worker

    from .conftest import TINY_BUDGET, TINY_ENV

    def forbidden(*args, **kwargs):
        raise AssertionError("die_with_parent called in the driver")

    monkeypatch.setattr(worker, "die_with_parent", forbidden)
    specs = expand_grid(["random"], ["lattice-defects"], 1, [TINY_BUDGET], TINY_ENV)
    summary = run_grid(specs, tmp_path / "r.sqlite", workers=1, progress=False)
    assert summary.ok and summary.done == 1
