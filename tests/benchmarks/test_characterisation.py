"""The characterisation track end to end: grid names, suite key, store table, runner, leaderboard, CLI."""

from __future__ import annotations

import json
import sqlite3

import pytest

from stemscan.benchmarks import expand_grid
from stemscan.benchmarks.leaderboard import leaderboard
from stemscan.benchmarks.runner import pending, run_grid
from stemscan.benchmarks.store import ResultsStore, load_identifications, load_results
from stemscan.benchmarks.suite import parse_suite
from stemscan.cli import main

from .conftest import TINY_BUDGET, TINY_ENV


def _grid(agents, analysts=None):
    return expand_grid(agents, ["lattice-defects"], 2, budgets=[TINY_BUDGET], env_kwargs=TINY_ENV, analysts=analysts)


def test_pairs_group_by_navigator_and_self_only_where_available():
    specs = _grid(["raster+peaks", "raster+dcnn", "random"], analysts=["self"])
    assert [(s.agent, s.analysts) for s in specs[::2]] == [("raster", ("peaks", "dcnn")), ("random", ())]
    assert specs[0].key() == _grid(["raster"])[0].key()  # analysts are not part of the episode's key
    specs = _grid(["dcnn-bo", "raster"], analysts=["peaks", "self"])
    assert {s.agent: s.analysts for s in specs} == {"dcnn-bo": ("peaks", "self"), "raster": ("peaks",)}
    with pytest.raises(ValueError, match="no report"):
        _grid(["raster+self"])
    with pytest.raises(ValueError, match="unknown analyst 'atoms'"):
        _grid(["raster+atoms"])
    with pytest.raises(ValueError, match="unknown navigator"):
        _grid(["nope+peaks"])
    with pytest.raises(ValueError, match="duplicates"):
        _grid(["raster+peaks", "raster+peaks"])


def test_suite_with_analysts():
    suite = parse_suite({"agents": ["random", "dcnn-bo+dcnn"], "analysts": ["peaks", "self"], "scenes": ["lattice-defects"],
                         "seeds": 1, "env": TINY_ENV})
    assert {s.agent: s.analysts for s in suite.episodes()} == {"random": ("peaks",), "dcnn-bo": ("dcnn", "peaks", "self")}
    with pytest.raises(ValueError, match="unknown analyst"):
        parse_suite({"agents": ["random"], "analysts": ["nope"], "scenes": ["lattice-defects"]})


def test_runner_stores_one_row_per_analyst_and_replays_only_missing_analysts(tmp_path):
    out = tmp_path / "r.sqlite"
    summary = run_grid(_grid(["raster+peaks"]), out, workers=1, progress=False)
    assert summary.done == 2 and summary.ok
    rows = load_identifications(out)
    assert [(r["agent"], r["analyst"], r["seed"]) for r in rows] == [("raster", "peaks", 0), ("raster", "peaks", 1)]
    for row in rows:
        assert 0 <= row["f1"] <= 1 and 0 <= row["dec_auc"] <= 1 and 0 <= row["localisation_f1"] <= 1
        curve = json.loads(row["curve"])
        assert curve[-1][1] == pytest.approx(row["f1"]) and all(len(p) == 3 for p in curve)
        assert row["run_id"] is not None and json.loads(row["per_kind"])
    assert run_grid(_grid(["raster+peaks"]), out, workers=1, progress=False).done == 0  # resumed: nothing to do
    with ResultsStore(out) as store:
        todo = pending(_grid(["raster+peaks", "raster+dcnn"]), store)
    assert [(s.agent, s.analysts) for s in todo] == [("raster", ("dcnn",))] * 2  # only the missing analyst
    run_grid(_grid(["raster+peaks", "raster+dcnn"]), out, workers=1, progress=False)
    assert len(load_results(out, as_frame=False)) == 2  # the episodes were re-played, not stored twice
    assert sorted(r["analyst"] for r in load_identifications(out)) == ["dcnn", "dcnn", "peaks", "peaks"]
    assert identical_reruns(out)


def identical_reruns(out) -> bool:
    """The peaks rows of a fresh run equal the stored ones (scores are deterministic)."""
    fresh = out.parent / "fresh.sqlite"
    run_grid(_grid(["raster+peaks"]), fresh, workers=1, progress=False)
    keys = ("seed", "detections", "precision", "recall", "f1", "dec_auc", "curve", "per_kind")
    old = [tuple(r[k] for k in keys) for r in load_identifications(out) if r["analyst"] == "peaks"]
    return old == [tuple(r[k] for k in keys) for r in load_identifications(fresh)]


def test_old_files_gain_the_table_from_writers_only(tmp_path):
    old = tmp_path / "old.sqlite"
    run_grid(_grid(["random"]), old, workers=1, progress=False)
    conn = sqlite3.connect(old)
    conn.execute("DROP TABLE identifications")
    conn.commit()
    conn.close()
    before = old.read_bytes()
    assert load_identifications(old) == []  # a reader converts nothing
    assert old.read_bytes() == before
    run_grid(_grid(["random+peaks"]), old, workers=1, progress=False)  # a writer adds the table, keeps the rows
    assert len(load_results(old, as_frame=False)) == 2 and len(load_identifications(old)) == 2


def test_leaderboard_second_track(tmp_path):
    out = tmp_path / "r.sqlite"
    run_grid(_grid(["raster+peaks", "random+peaks"]), out, workers=1, progress=False)
    text = leaderboard(out, format="md")
    assert "# Identification track (navigator × analyst)" in text
    assert "| navigator | peaks |" in text and "| raster |" in text.split("Identification track")[-1]
    page = leaderboard(out, format="html", scan_paths=False)
    assert "Identification track" in page and "<th>peaks</th>" in page
    plain = tmp_path / "plain.sqlite"
    run_grid(_grid(["random"]), plain, workers=1, progress=False)
    assert "Identification track" not in leaderboard(plain, format="md")


def test_cli_navigator_plus_analyst(tmp_path, capsys):
    out = tmp_path / "r.sqlite"
    args = ["bench", "--agents", "raster+peaks", "--analysts", "peaks", "--scenes", "lattice-defects", "--seeds", "1",
            "--budgets", str(TINY_BUDGET), "--env-kwargs", json.dumps(TINY_ENV), "--workers", "1", "--no-progress",
            "--out", str(out)]
    assert main(args) == 0
    assert "1 episodes in the grid: 0 already stored, 1 run now" in capsys.readouterr().out
    assert [r["analyst"] for r in load_identifications(out)] == ["peaks"]
    assert main(["bench", "--agents", "raster+self", "--scenes", "lattice-defects", "--out", str(out)]) == 2
    assert "no report() of its own" in capsys.readouterr().err


def test_bundle_covers_identification_rows(tmp_path):
    import zipfile

    from stemscan.benchmarks.bundle import make_bundle, open_bundle

    out = tmp_path / "r.sqlite"
    run_grid(_grid(["raster+peaks"]), out, workers=1, progress=False)
    bundle = tmp_path / "b.zip"
    manifest = make_bundle(out, bundle)
    assert len(manifest["identifications"]) == 2
    with open_bundle(bundle) as (_, _, problems, _):
        assert problems == []
    altered = tmp_path / "altered.sqlite"
    with zipfile.ZipFile(bundle) as archive:
        altered.write_bytes(archive.read("results.sqlite"))
        text = archive.read("manifest.json")
    conn = sqlite3.connect(altered)
    conn.execute("UPDATE identifications SET f1 = 1.0 WHERE seed = 1")
    conn.commit()
    conn.close()
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        archive.write(altered, "results.sqlite")
        archive.writestr("manifest.json", text)
    with open_bundle(tampered) as (_, _, problems, _):
        assert any("identification row" in p and "(raster+peaks/lattice-defects/s1) was altered" in p for p in problems)


@pytest.mark.parametrize(("navigator", "kwargs"), [("dcnn-bo", {}), ("linear-bo", {"window": 8, "stride": 4})])
def test_analysts_leave_the_discovery_row_unchanged(navigator, kwargs):
    from stemscan.benchmarks.episode import run_spec
    from stemscan.benchmarks.verify import IGNORED_COLUMNS

    def grid(agents):
        return expand_grid(agents, ["lattice-defects"], [1], budgets=[0.6], env_kwargs=TINY_ENV,
                           agent_kwargs={navigator: kwargs} if kwargs else None)

    watched = run_spec(grid([f"{navigator}+self", f"{navigator}+peaks"])[0])
    plain = run_spec(grid([navigator])[0])
    assert len(watched.pop("identifications")) == 2
    assert {k: v for k, v in watched.items() if k not in IGNORED_COLUMNS} == {k: v for k, v in plain.items() if k not in IGNORED_COLUMNS}


def _without(row, ignored):
    return {k: v for k, v in row.items() if k not in ignored}


def test_evaluate_with_analysts_returns_identification_rows():
    from stemscan.agents import make as make_agent
    from stemscan.benchmarks.evaluate import evaluate
    from stemscan.benchmarks.verify import IGNORED_COLUMNS, IGNORED_IDENTIFICATION_COLUMNS

    grid = {"scenes": "lattice-defects", "seeds": [0, 1], "budgets": [TINY_BUDGET], "env_kwargs": TINY_ENV}
    plain = evaluate("raster", **grid)
    watched = evaluate("raster", analysts=["peaks"], **grid)
    assert "identifications" not in plain[0]
    for row, other in zip(watched, plain):
        ids = row.pop("identifications")
        assert [r["analyst"] for r in ids] == ["peaks"]
        assert ids[0]["seed"] == row["seed"] and 0 <= ids[0]["f1"] <= 1 and 0 <= ids[0]["dec_auc"] <= 1
        assert _without(row, IGNORED_COLUMNS) == _without(other, IGNORED_COLUMNS)  # the discovery track is unchanged
    # an object is scored like the zoo agent of the same name, its own report() included
    kwargs = {"window": 8, "stride": 4}
    by_name = evaluate("linear-bo", agent_kwargs=kwargs, analysts=["self", "peaks"], **grid)
    import gymnasium as gym

    env = gym.make("STEMScan-v0", scene="lattice-defects", **TINY_ENV)
    agent = make_agent("linear-bo", env, **kwargs)
    by_object = evaluate(agent, analysts=["self", "peaks"], **grid)
    for a, b in zip(by_name, by_object):
        assert [r["analyst"] for r in b["identifications"]] == ["self", "peaks"]
        assert [_without(r, IGNORED_IDENTIFICATION_COLUMNS | {"agent_kwargs"}) for r in a["identifications"]] == \
            [_without(r, IGNORED_IDENTIFICATION_COLUMNS | {"agent_kwargs"}) for r in b["identifications"]]
    with pytest.raises(ValueError, match="'raster' has no report"):
        evaluate("raster", analysts=["self"], **grid)
    with pytest.raises(ValueError, match="unknown analyst 'atoms'"):
        evaluate("raster", analysts=["atoms"], **grid)
    with pytest.raises(ValueError, match="duplicates"):
        evaluate("raster", analysts=["peaks", "peaks"], **grid)
    with pytest.raises(ValueError, match="list of analyst names"):
        evaluate("raster", analysts="peaks", **grid)


def test_verify_reruns_identification_rows(tmp_path, capsys):
    out = tmp_path / "r.sqlite"
    run_grid(_grid(["raster+peaks", "random"]), out, workers=1, progress=False)
    assert main(["verify", str(out), "--all", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "4 of 4 rows reproduce bit for bit" in text and "2 of 2 identification rows reproduce bit for bit" in text
    assert "ok      raster+peaks/lattice-defects/s1/b0.3" in text
    assert main(["verify", str(out), "--statistical", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "IQM DEC-AUC (navigator+analyst)" in text and "raster+peaks" in text
    assert "3 of 3 groups consistent with the stored results" in text  # random, raster; raster+peaks

    tampered = tmp_path / "tampered.sqlite"
    tampered.write_bytes(out.read_bytes())
    conn = sqlite3.connect(tampered)
    conn.execute("UPDATE identifications SET dec_auc = dec_auc + 0.125 WHERE seed = 1")
    conn.commit()
    conn.close()
    assert main(["verify", str(tampered), "--all", "--no-progress"]) == 1
    text = capsys.readouterr().out
    assert "DIFFERS raster+peaks/lattice-defects/s1/b0.3" in text and "dec_auc: stored" in text
    assert "4 of 4 rows reproduce bit for bit" in text and "1 of 2 identification rows reproduce bit for bit" in text


def test_verify_rows_checks_only_the_sampled_episodes_identifications(tmp_path):
    from stemscan.benchmarks.verify import verify_rows

    out = tmp_path / "r.sqlite"
    run_grid(_grid(["raster+peaks"]), out, workers=1, progress=False)
    rows, ids = load_results(out, as_frame=False), load_identifications(out)
    result = verify_rows(rows[:1], identifications=ids)
    assert result.ok and [c.label for c in result.identification_checks] == ["raster+peaks/lattice-defects/s0/b0.3"]
    ids[0] = {**ids[0], "precision": ids[0]["precision"] + 0.5}
    result = verify_rows(rows[:1], identifications=ids)
    assert not result.ok and result.n_differ == 0 and result.n_identifications_differ == 1
    assert result.identification_checks[0].differences[0][0] == "precision"
