"""Bad input is refused with one clear line, and nothing written before is lost, changed or left half-written.

Results files here are made from two rows of the paper's file (no episode is
run), so each test takes milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import zipfile
from pathlib import Path

import pytest

from stemscan.benchmarks import expand_grid, run_grid
from stemscan.benchmarks.store import ResultsStore, load_results, load_runs
from stemscan.cli import main

PAPER = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "paper.sqlite"
TINY = '{"image_size": 256}'


@pytest.fixture()
def results(tmp_path) -> Path:
    """A WAL results file of two stored episodes (random, lattice-defects, budget 0.05, seeds 0 and 1), no -wal beside it."""
    rows = [r for r in load_results(PAPER, as_frame=False)
            if r["agent"] == "random" and r["scene"] == "lattice-defects" and r["dose_budget"] == 0.05][:2]
    (run,) = load_runs(PAPER)
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        run_id = store.add_run(run["fingerprint"], "test")
        for row in rows:
            store.insert({**{k: v for k, v in row.items() if k != "id"}, "run_id": run_id})
    assert _files(tmp_path) == ["r.sqlite"]
    return path


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edit(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()  # the last connection checkpoints and removes -wal and -shm


def _error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert ": error: " in lines[0]
    return lines[0]


# 1. an output path that is an input file ------------------------------------------------
@pytest.mark.parametrize("fmt", ["md", "csv", "html"])
def test_leaderboard_refuses_to_overwrite_the_results_file_it_reads(results, fmt, capsys):
    before = _sha(results)
    assert main(["leaderboard", str(results), "--format", fmt, "--no-scan-paths", "-o", str(results)]) == 2
    assert "is the input file" in _error(capsys)
    assert _sha(results) == before and _files(results.parent) == ["r.sqlite"]


def test_leaderboard_refuses_another_spelling_or_a_hard_link_of_an_input(results, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = _sha(results)
    assert main(["leaderboard", "r.sqlite", "-o", f"../{tmp_path.name}/./r.sqlite"]) == 2
    assert "is the input file" in _error(capsys)
    os.link(results, tmp_path / "link.sqlite")
    assert main(["leaderboard", str(results), "-o", str(tmp_path / "link.sqlite")]) == 2
    assert "is the input file" in _error(capsys)
    assert _sha(results) == before


def test_submit_refuses_to_overwrite_the_results_file_or_the_suite(results, tmp_path, capsys):
    before = _sha(results)
    assert main(["submit", str(results), "-o", str(results)]) == 2
    assert "is the input file" in _error(capsys)
    assert _sha(results) == before
    suite = tmp_path / "mine.toml"
    suite.write_text('agents = ["random"]\nscenes = ["lattice-defects"]\n')
    assert main(["submit", str(results), "--suite", str(suite), "-o", str(suite)]) == 2
    assert "is the input file" in _error(capsys)
    assert suite.read_text().startswith("agents")


def test_bench_refuses_an_out_that_is_its_suite_file(tmp_path, capsys):
    suite = tmp_path / "mine.toml"
    text = 'agents = ["random"]\nscenes = ["lattice-defects"]\n[env]\nimage_size = 256\n'
    suite.write_text(text)
    assert main(["bench", "--suite", str(suite), "--out", str(suite), "--workers", "1", "--no-progress"]) == 2
    assert "is the input file" in _error(capsys)
    assert suite.read_text() == text and _files(tmp_path) == ["mine.toml"]


# 2. a writer checks an existing file before it changes anything ------------------------
def _foreign_episodes(path: Path) -> None:
    _edit(path, "CREATE TABLE episodes (id INTEGER PRIMARY KEY, patient TEXT)", "INSERT INTO episodes (patient) VALUES ('x')")


def _corrupt_page(path: Path) -> None:
    """Rollback-journal mode (a writer would switch it to WAL), then garbage over the episodes table's root page."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = DELETE")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'episodes'").fetchone()[0]
    conn.close()
    with open(path, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xff" * 64)


@pytest.mark.parametrize("damage", ["foreign", "corrupt", "text", "dangling"])
def test_a_refused_file_is_byte_identical_afterwards(results, tmp_path, damage, capsys):
    target = tmp_path / "out.sqlite"
    if damage == "foreign":
        _foreign_episodes(target)
    elif damage == "corrupt":
        target.write_bytes(results.read_bytes())
        _corrupt_page(target)
    elif damage == "text":
        target.write_bytes(b"not a database at all " * 300)
    else:  # rows that point to a run the file lacks: a writer's next run would adopt them
        target.write_bytes(results.read_bytes())
        _edit(target, "PRAGMA journal_mode = DELETE", "DELETE FROM runs")
    before, listing = _sha(target), _files(tmp_path)
    with pytest.raises(ValueError, match="out.sqlite"):
        ResultsStore(target)
    assert _sha(target) == before and _files(tmp_path) == listing
    argv = ["bench", "--agents", "random", "--scenes", "lattice-defects", "--env-kwargs", TINY, "--budgets", "0.05",
            "--out", str(target), "--workers", "1", "--no-progress"]
    assert main(argv) == 2
    assert "out.sqlite" in _error(capsys)
    assert _sha(target) == before and _files(tmp_path) == listing


def test_a_corrupt_page_is_found_by_the_writer(results):
    _corrupt_page(results)
    with pytest.raises(ValueError, match=r"r\.sqlite .*(damaged|malformed)"):
        ResultsStore(results)


# 3. tampered values name the file, table, row and column -------------------------------
def test_text_where_a_number_belongs_names_the_row_and_column(results, capsys):
    _edit(results, "UPDATE episodes SET gain = 'abc' WHERE id = 1")
    assert main(["leaderboard", str(results)]) == 2
    line = _error(capsys)
    assert str(results) in line and "table 'episodes'" in line and "row id 1" in line and "'gain'" in line
    assert "could not convert" not in line


def test_bench_refuses_to_add_rows_to_a_file_with_an_edited_value(results, capsys):
    _edit(results, "UPDATE episodes SET gain = 'abc' WHERE id = 1")
    before = results.read_bytes()
    assert main(["bench", "--agents", "raster", "--scenes", "phase-separated", "--env-kwargs", '{"image_size": 256}',
                 "--out", str(results), "--workers", "1", "--no-progress"]) == 2
    line = _error(capsys)
    assert "row id 1" in line and "'gain'" in line
    assert results.read_bytes() == before


@pytest.mark.parametrize("edit", ["features_total = -1, features_found = -3", "features_found = features_total + 1",
                                  "scene = ''", "steps = -2"])
def test_counts_no_run_could_make_name_the_row(results, capsys, edit):
    _edit(results, f"UPDATE episodes SET {edit} WHERE id = 1")
    assert main(["leaderboard", str(results)]) == 2
    line = _error(capsys)
    assert str(results) in line and "row id 1" in line and "damaged or was edited" in line


def test_a_fingerprint_that_is_not_json_names_the_run_and_column(results, capsys):
    _edit(results, "UPDATE runs SET fingerprint = 'xx'")
    for command in (["leaderboard", str(results)], ["verify", str(results), "--workers", "1", "--no-progress"]):
        assert main(command) == 2
        line = _error(capsys)
        assert str(results) in line and "table 'runs'" in line and "run_id 1" in line and "'fingerprint'" in line


def test_a_corrupt_page_is_named_with_its_file(results, capsys):
    _corrupt_page(results)
    assert main(["leaderboard", str(results)]) == 2
    line = _error(capsys)
    assert str(results) in line and "malformed" in line


# 4. a bundle names its member, not a temporary path ------------------------------------
def test_a_bundle_with_a_garbage_results_file_names_the_bundle_member(tmp_path, capsys):
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "stemscan-results-bundle/1", "rows": {}, "agents": []}))
        archive.writestr("results.sqlite", b"garbage" * 200)
    assert main(["verify", str(bundle), "--workers", "1", "--no-progress"]) == 2
    line = _error(capsys)
    assert f"{bundle}: results.sqlite" in line and "stemscan-verify-" not in line


# 5. env values are checked before anything runs or is written --------------------------
@pytest.mark.parametrize(
    ("env_kwargs", "budgets", "needle"),
    [
        ('{"image_size": "big"}', None, "image_size"),
        ('{"image_size": 256, "patch_size": 3}', None, "patch_size"),
        ('{"image_size": 128}', "0.05", "cannot pay for the survey"),
    ],
)
def test_bench_refuses_env_values_before_anything_is_written(tmp_path, env_kwargs, budgets, needle, capsys):
    out = tmp_path / "sub" / "out.sqlite"
    argv = ["bench", "--agents", "random", "--scenes", "lattice-defects", "--env-kwargs", env_kwargs,
            "--out", str(out), "--workers", "1", "--no-progress"] + (["--budgets", budgets] if budgets else [])
    assert main(argv) == 2
    assert needle in _error(capsys)
    assert _files(tmp_path) == []


def test_a_suite_with_a_bad_env_value_writes_nothing(tmp_path, capsys):
    suite = tmp_path / "bad.toml"
    suite.write_text('agents = ["random"]\nscenes = ["lattice-defects"]\n[env]\nimage_size = "big"\n')
    assert main(["bench", "--suite", str(suite), "--out", str(tmp_path / "o.sqlite"), "--workers", "1", "--no-progress"]) == 2
    assert "image_size" in _error(capsys)
    assert _files(tmp_path) == ["bad.toml"]


def test_run_grid_checks_envs_before_opening_the_store(tmp_path):
    specs = expand_grid(["random"], ["lattice-defects"], 1, budgets=[0.05], env_kwargs={"image_size": 128})
    with pytest.raises(ValueError, match="cannot pay for the survey"):
        run_grid(specs, tmp_path / "o.sqlite", workers=1, progress=False)
    assert _files(tmp_path) == []


# 6. a run_id that points to no run is damage --------------------------------------------
def test_verify_reports_a_dangling_run_id_as_a_damaged_file(results, capsys):
    _edit(results, "UPDATE episodes SET run_id = 7 WHERE id = 2")
    assert main(["verify", str(results), "--all", "--workers", "1", "--no-progress"]) == 2
    line = _error(capsys)
    assert str(results) in line and "row id 2" in line and "run_id 7" in line and "damaged" in line
    assert main(["leaderboard", str(results)]) == 2
    assert "run_id 7" in _error(capsys)


# 7. duplicates and absent budgets -------------------------------------------------------
def test_duplicate_budgets_are_refused_like_duplicate_agents_and_seeds(tmp_path, capsys):
    with pytest.raises(ValueError, match="budgets contain duplicates"):
        expand_grid(["random"], ["lattice-defects"], 1, budgets=[0.05, 0.05], env_kwargs={"image_size": 256})
    argv = ["bench", "--agents", "random", "--scenes", "lattice-defects", "--env-kwargs", TINY, "--budgets", "0.05,0.05",
            "--out", str(tmp_path / "o.sqlite"), "--workers", "1", "--no-progress"]
    assert main(argv) == 2
    assert "duplicates" in _error(capsys)
    assert _files(tmp_path) == []


def test_leaderboard_budget_absent_from_the_file_lists_the_budgets(results, capsys):
    assert main(["leaderboard", str(results), "--budget", "0.07"]) == 2
    line = _error(capsys)
    assert "0.07" in line and "0.05" in line
    assert main(["leaderboard", str(results), "--budget", "0.05"]) == 0
    assert "| random |" in capsys.readouterr().out


# 8. readers create nothing beside the file ----------------------------------------------
@pytest.mark.parametrize("tampered", [False, True])
def test_readers_leave_no_wal_or_shm_files(results, tmp_path, tampered, capsys):
    if tampered:
        _edit(results, "UPDATE episodes SET gain = 'abc' WHERE id = 1")
    assert results.read_bytes()[18:20] == b"\x02\x02"  # a WAL file, with no -wal beside it
    out = tmp_path / "out"
    out.mkdir()
    expected = 2 if tampered else 0
    assert main(["leaderboard", str(results)]) == expected
    assert main(["submit", str(results), "-o", str(out / "b.zip")]) == expected
    assert load_runs(results) and (tampered or load_results(results, as_frame=False))
    if tampered:
        assert main(["verify", str(results), "--workers", "1", "--no-progress"]) == 2
    capsys.readouterr()
    assert _files(tmp_path) == ["out", "r.sqlite"]
