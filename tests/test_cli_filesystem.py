"""File-system failures: one line naming the path, exit status 2, no traceback, nothing half-written."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import tempfile

import pytest

from stemscan.atomic import check_output_file, write_text_atomic
from stemscan.cli import main

from .benchmarks.conftest import TINY_BUDGET, TINY_ENV

TINY = ["--budgets", str(TINY_BUDGET), "--env-kwargs", '{"image_size": 64, "patch_size": 16}', "--workers", "1", "--no-progress"]
BENCH = ["bench", "--agents", "random", "--scenes", "lattice-defects", "--seeds", "2", *TINY]


def _error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A small results file."""
    from stemscan.benchmarks import expand_grid, run_grid

    path = tmp_path_factory.mktemp("store") / "r.sqlite"
    run_grid(expand_grid(["random"], ["lattice-defects"], 2, [TINY_BUDGET], TINY_ENV), path, workers=1, progress=False)
    return path


def test_bench_out_dev_null(capsys):
    assert main([*BENCH, "--out", os.devnull]) == 2
    _error(capsys, os.devnull, "not a regular file")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_bench_out_folder(tmp_path, capsys):
    assert main([*BENCH, "--out", str(tmp_path)]) == 2
    _error(capsys, str(tmp_path), "folder")


def test_bench_out_under_a_file(tmp_path, capsys):
    (tmp_path / "plain").write_text("x")
    out = tmp_path / "plain" / "r.sqlite"
    assert main([*BENCH, "--out", str(out)]) == 2
    _error(capsys, "is not a folder")


def test_bench_out_missing_parent_is_created(tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "r.sqlite"
    assert main([*BENCH, "--out", str(out)]) == 0
    assert sqlite3.connect(out).execute("SELECT COUNT(*) FROM episodes").fetchone()[0] == 2


@pytest.mark.parametrize("content", [b"", b"not a database at all\n" * 10])
def test_bench_out_zero_byte_or_foreign_file(tmp_path, capsys, content):
    out = tmp_path / "r.sqlite"
    out.write_bytes(content)
    code = main([*BENCH, "--out", str(out)])
    if content:  # a foreign file: refused, untouched
        assert code == 2
        _error(capsys, str(out), "not a SQLite results file")
        assert out.read_bytes() == content
    else:  # a 0-byte file is an empty SQLite database: it becomes a results file
        assert code == 0


def test_bench_out_foreign_sqlite(tmp_path, capsys):
    out = tmp_path / "other.sqlite"
    conn = sqlite3.connect(out)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.commit()
    conn.close()
    assert main([*BENCH, "--out", str(out)]) == 2
    _error(capsys, str(out), "something else")


class _FullDisk:
    """A sqlite3 connection whose INSERTs fail as on a full disk."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args):
        if sql.lstrip().upper().startswith("INSERT INTO EPISODES"):
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_bench_full_disk_sqlite(tmp_path, monkeypatch, capsys):
    from stemscan.benchmarks import store

    real_connect = sqlite3.connect
    monkeypatch.setattr(store.sqlite3, "connect", lambda *a, **k: _FullDisk(real_connect(*a, **k)))
    out = tmp_path / "r.sqlite"
    assert main([*BENCH, "--out", str(out)]) == 2
    line = _error(capsys, str(out), "database or disk is full")
    assert line.startswith("stemscan bench: error:")
    monkeypatch.undo()
    conn = sqlite3.connect(out)
    assert conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0] == 0  # nothing half-written
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_bench_read_only_folder_sqlite(tmp_path, monkeypatch, capsys):
    """SQLite cannot create the file (read-only folder or mount): one line naming the file."""
    from stemscan.benchmarks import store

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(store.sqlite3, "connect", refuse)
    out = tmp_path / "r.sqlite"
    assert main([*BENCH, "--out", str(out)]) == 2
    _error(capsys, str(out), "unable to open database file")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_bench_real_read_only_folder(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert main([*BENCH, "--out", str(folder / "r.sqlite")]) == 2
        _error(capsys, "r.sqlite")
    finally:
        folder.chmod(0o755)


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[0]) if args else None)


def test_leaderboard_full_disk_keeps_the_old_file(results, tmp_path, monkeypatch, capsys):
    out = tmp_path / "board.md"
    out.write_text("old leaderboard\n")
    import pathlib

    real_write_text = pathlib.Path.write_text

    def write_text(self, *args, **kwargs):
        if self.name.startswith(".board.md."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)
    assert main(["leaderboard", str(results), "-o", str(out)]) == 2
    _error(capsys, "No space left on device", ".board.md.")
    monkeypatch.undo()
    assert out.read_text() == "old leaderboard\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board.md"]  # no temporary file left


def test_leaderboard_read_only_folder(results, tmp_path, monkeypatch, capsys):
    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), dir)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert main(["leaderboard", str(results), "-o", str(tmp_path / "board.md")]) == 2
    _error(capsys, str(tmp_path), "Permission denied")


@pytest.mark.parametrize(
    "argv",
    [
        ["leaderboard", "{results}", "-o", "{folder}"],
        ["leaderboard", "{results}", "--format", "html", "-o", os.devnull],
        ["scenes", "--gallery", "{folder}"],
        ["replay", "--agent", "random", "--scene", "lattice-defects", "-o", "{folder}"],
        ["replay", "--agent", "random", "--scene", "lattice-defects", "-o", "{folder}/x.png"],
        ["submit", "{results}", "-o", "{folder}"],
        ["leaderboard", "{folder}"],
    ],
)
def test_folder_or_device_where_a_file_belongs(argv, results, tmp_path, capsys):
    argv = [word.format(results=results, folder=tmp_path) for word in argv]
    before = sorted(tmp_path.iterdir())
    assert main(argv) == 2
    _error(capsys)
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "dcnn", "--steps", "1", "-o", "{folder}"], "--out {folder} is a folder"),
        (["train", "rvae", "--epochs", "1", "-o", "{folder}"], "--out {folder} is a folder"),
        (["train", "ppo", "--timesteps", "8", "--out", "{folder}/p.safetensors", "--curve", "{folder}"], "--curve {folder} is a folder"),
        (["train", "ppo", "--timesteps", "8", "--out", "{folder}/p.safetensors", "--curve", os.devnull], "not a regular file"),
    ],
)
def test_train_outputs_are_checked_before_training(argv, needle, tmp_path, capsys):
    argv = [word.format(folder=tmp_path) for word in argv]
    assert main(argv) == 2
    _error(capsys, needle.format(folder=tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_check_output_file(tmp_path):
    assert check_output_file(tmp_path / "a" / "b.txt") == tmp_path / "a" / "b.txt"
    for bad in (tmp_path, os.devnull, ""):
        with pytest.raises(ValueError):
            check_output_file(bad)
    with pytest.raises(ValueError, match="device"):
        write_text_atomic(os.devnull, "x")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_cli_error_lines():
    from stemscan.cli import error_line

    assert error_line(OSError(errno.ENOSPC, "No space left on device", "/x/r.sqlite")) == "/x/r.sqlite: No space left on device"
    assert error_line(ValueError("a\nb")) == "a b"
    assert "nested" in error_line(RecursionError())
