"""The SQLite results store: one row per key, atomic rows, concurrent writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from stemscan.benchmarks.store import COLUMNS, ResultsStore, load_results


def _row(seed: int, agent: str = "random") -> dict:
    row = {name: 0 for name in COLUMNS}
    row.update(version="0", env_id="STEMScan-v0", agent=agent, agent_kwargs="{}", agent_config="{}",
               scene="lattice-defects", env_kwargs="{}", seed=seed, curve="[]")
    return row


def test_insert_skips_existing_key(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        assert store.insert(_row(0)) is True
        assert store.insert(_row(0)) is False
        assert store.insert(_row(0, agent="raster")) is True
        assert store.count() == 2
        assert ("random", "{}", "lattice-defects", "{}", 0) in store.finished_keys()
    rows = load_results(path, as_frame=False)
    assert {r["agent"] for r in rows} == {"random", "raster"}


def test_required_columns_exist(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.insert(_row(0))
    conn = sqlite3.connect(tmp_path / "r.sqlite")
    names = {row[1] for row in conn.execute("PRAGMA table_info(episodes)")}
    for required in ("agent", "scene", "seed", "dose_budget", "features_found", "features_total", "dose_used",
                     "score", "gain", "latency_ms_median", "version", "env_id", "env_kwargs", "agent_kwargs", "curve"):
        assert required in names
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_bad_rows_and_files(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(ValueError, match="unknown columns"):
            store.insert({**_row(0), "colour": 1})
        bad = _row(1)
        bad["agent"] = None  # NOT NULL violated: the transaction rolls back, nothing stored
        with pytest.raises(sqlite3.IntegrityError):
            store.insert(bad)
        assert store.count() == 0
    (tmp_path / "junk.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match="not a SQLite results file"):
        ResultsStore(tmp_path / "junk.sqlite")
    with pytest.raises(FileNotFoundError):
        load_results(tmp_path / "missing.sqlite")


_WRITER = """
import sys
from stemscan.benchmarks.store import COLUMNS, ResultsStore

def row(seed, agent):
    r = {name: 0 for name in COLUMNS}
    r.update(version="0", env_id="STEMScan-v0", agent=agent, agent_kwargs="{}", agent_config="{}",
             scene="lattice-defects", env_kwargs="{}", seed=seed, curve="[]")
    return r

with ResultsStore(sys.argv[1]) as store:
    for seed in range(200):
        store.insert(row(seed, sys.argv[2]))
        store.insert(row(seed, "shared"))
"""


def test_two_processes_write_one_file(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    path = tmp_path / "r.sqlite"
    procs = [subprocess.Popen([sys.executable, str(script), str(path), name]) for name in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    conn = sqlite3.connect(path)
    counts = dict(conn.execute("SELECT agent, COUNT(*) FROM episodes GROUP BY agent"))
    assert counts == {"a": 200, "b": 200, "shared": 200}
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_files_without_the_p90_column_are_read_as_is_and_migrated_by_writers(tmp_path):
    old = tmp_path / "old.sqlite"
    with ResultsStore(old) as store:
        store.insert({**_row(0), "latency_ms_p90": 7.5})
    conn = sqlite3.connect(old)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("ALTER TABLE episodes DROP COLUMN latency_ms_p90")
    conn.commit()
    conn.close()
    before = old.read_bytes()
    (row,) = load_results(old, as_frame=False)  # read-only: nothing converted, the column reads as NULL
    assert row["latency_ms_p90"] is None and row["agent"] == "random"
    assert old.read_bytes() == before
    with ResultsStore(old) as store:  # a writer adds the column; old rows keep NULL, new rows fill it
        store.insert({**_row(1), "latency_ms_p90": 3.0})
        assert [r["latency_ms_p90"] for r in store.rows()] == [None, 3.0]


def test_episode_rows_record_the_p90_latency():
    from stemscan.benchmarks.metrics import latency_summary_ms

    summary = latency_summary_ms([0.001 * k for k in range(1, 11)])  # 1..10 ms
    assert summary["median"] == pytest.approx(5.5) and summary["p90"] == pytest.approx(9.1) and summary["max"] == 10.0
