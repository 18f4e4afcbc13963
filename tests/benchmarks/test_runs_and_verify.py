"""Runs and fingerprints in the results file; `stemscan verify` finds drift."""

from __future__ import annotations

import json
import sqlite3

import pytest

from stemscan.benchmarks import expand_grid, run_grid
from stemscan.benchmarks.fingerprint import environment_fingerprint
from stemscan.benchmarks.leaderboard import leaderboard
from stemscan.benchmarks.store import ResultsStore, load_results, load_runs
from stemscan.benchmarks.verify import equivalence, sample_rows, spec_of_row
from stemscan.cli import main

ENV = {"image_size": 128, "patch_size": 32, "overview_size": 64}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("verify") / "r.sqlite"
    specs = expand_grid(["random", "linear-bo"], ["phase-separated"], [0, 1], [0.3], ENV)
    summary = run_grid(specs, out, workers=1, progress=False, command="test")
    assert summary.ok and summary.done == 4
    return out


def test_every_row_points_to_a_run_with_its_fingerprint(results):
    rows = load_results(results, as_frame=False)
    runs = load_runs(results)
    assert len(runs) == 1
    run = runs[0]
    assert {r["run_id"] for r in rows} == {run["run_id"]}
    assert run["fingerprint_id"] == environment_fingerprint()["id"] == run["fingerprint"]["id"]
    assert run["command"] == "test" and run["stemscan_version"] == rows[0]["version"]
    assert run["fingerprint"]["packages"]["botorch"]


def test_leaderboard_names_the_environment_and_warns_when_mixed(results, tmp_path):
    text = leaderboard(results, format="md")
    assert f"4 rows: environment {environment_fingerprint()['id']}" in text
    mixed = tmp_path / "mixed.sqlite"
    mixed.write_bytes(results.read_bytes())
    conn = sqlite3.connect(mixed)
    conn.execute("UPDATE episodes SET run_id = NULL WHERE seed = 1")
    conn.commit()
    conn.close()
    with pytest.warns(UserWarning, match="2 different environments"):
        text = leaderboard(mixed, format="md")
    assert "2 rows: environment not recorded" in text


def test_old_files_are_migrated_by_writers_and_only_read_by_readers(tmp_path, results):
    old = tmp_path / "old.sqlite"
    old.write_bytes(results.read_bytes())
    conn = sqlite3.connect(old)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("DROP TABLE runs")
    conn.execute("ALTER TABLE episodes DROP COLUMN run_id")
    conn.commit()
    conn.close()
    before = old.read_bytes()
    rows = load_results(old, as_frame=False)  # read-only: nothing converted
    assert [r["run_id"] for r in rows] == [None] * 4 and load_runs(old) == []
    assert old.read_bytes() == before
    with ResultsStore(old) as store:  # a writer adds the table and the column
        assert store.has_runs() and store.count() == 4


def test_writers_refuse_foreign_sqlite_files(tmp_path):
    foreign = tmp_path / "other.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE patients (name TEXT)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    with pytest.raises(ValueError, match="SQLite file of something else"):
        ResultsStore(foreign)
    assert foreign.read_bytes() == before
    with pytest.raises(ValueError, match="no table 'episodes'"):
        load_results(foreign)


def test_verify_passes_on_an_intact_file_and_fails_on_a_tampered_row(results, tmp_path, capsys):
    assert main(["verify", str(results), "--all", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "4 of 4 rows reproduce bit for bit" in out and "same environment" in out

    tampered = tmp_path / "tampered.sqlite"
    tampered.write_bytes(results.read_bytes())
    conn = sqlite3.connect(tampered)
    conn.execute("UPDATE episodes SET features_found = features_found + 1 WHERE agent = 'linear-bo' AND seed = 1")
    conn.commit()
    conn.close()
    assert main(["verify", str(tampered), "--all", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS linear-bo/phase-separated/s1/b0.3" in out
    assert "features_found: stored" in out
    assert "3 of 4 rows reproduce bit for bit" in out

    assert main(["verify", str(tampered), "--statistical", "--no-progress"]) in (0, 1)
    assert "groups consistent with the stored results" in capsys.readouterr().out


def test_verify_errors(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "missing.sqlite")]) == 2
    assert "no results file" in capsys.readouterr().err


def test_sampling_and_specs(results):
    rows = load_results(results, as_frame=False)
    assert sample_rows(rows, 2, seed=5) == sample_rows(rows, 2, seed=5)
    assert len(sample_rows(rows, 2, seed=5)) == 2 and sample_rows(rows, None, 0) == rows
    spec = spec_of_row(rows[0])
    assert spec.key() == (rows[0]["agent"], rows[0]["agent_kwargs"], rows[0]["scene"], rows[0]["env_kwargs"], rows[0]["seed"])
    with pytest.raises(ValueError, match="env 'Other-v1'"):
        spec_of_row({**rows[0], "env_id": "Other-v1"})


def test_equivalence_of_identical_and_shifted_results():
    def rows(gains):
        return [{"agent": "a", "agent_kwargs": "{}", "scene": "s", "env_kwargs": "{}", "seed": i, "gain": g}
                for i, g in enumerate(gains)]

    gains = [0.5, 1.0, 1.5, 2.0, 0.8, 1.2, 0.9, 1.1, 1.4, 0.7]
    (same,) = equivalence(rows(gains), rows(gains))
    assert same.consistent and same.identical == 10 and same.difference == 0
    (shifted,) = equivalence(rows(gains), rows([g + 1.0 for g in gains]))
    assert not shifted.consistent and shifted.difference == pytest.approx(1.0)
    json.dumps(shifted.__dict__)
