"""`stemscan bench | leaderboard | replay` end to end, and their errors."""

from __future__ import annotations

import json
import sqlite3

from stemscan.cli import main

ENV = json.dumps({"image_size": 64, "patch_size": 16})


def test_bench_leaderboard_replay(tmp_path, capsys):
    out = tmp_path / "r.sqlite"
    args = ["bench", "--agents", "random,oracle", "--scenes", "lattice-defects", "--seeds", "2", "--budgets", "0.3",
            "--env-kwargs", ENV, "--workers", "1", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    assert "4 episodes in the grid: 0 already stored, 4 run now, 0 failed" in capsys.readouterr().out
    assert main(args) == 0
    assert "4 already stored, 0 run now" in capsys.readouterr().out
    assert sqlite3.connect(out).execute("SELECT COUNT(*) FROM episodes").fetchone()[0] == 4

    assert main(["leaderboard", str(out)]) == 0
    assert "| 1 | oracle |" in capsys.readouterr().out
    csv_path = tmp_path / "lb.csv"
    assert main(["leaderboard", str(out), "--format", "csv", "-o", str(csv_path)]) == 0
    assert csv_path.read_text().startswith("family,rank,agent")

    gif = tmp_path / "ep.gif"
    assert main(["replay", "--agent", "random", "--scene", "lattice-defects", "--seed", "0", "-o", str(gif),
                 "--env-kwargs", json.dumps({"image_size": 64, "patch_size": 16, "dose_budget": 0.3})]) == 0
    assert gif.stat().st_size > 0


def test_cli_errors_list_valid_names(tmp_path, capsys):
    out = str(tmp_path / "r.sqlite")
    assert main(["bench", "--agents", "foo", "--scenes", "lattice-defects", "--out", out]) == 2
    assert "unknown agent 'foo'; valid names: random, raster, oracle" in capsys.readouterr().err
    assert main(["bench", "--agents", "random", "--scenes", "mars", "--out", out]) == 2
    assert "unknown scene 'mars'; valid names:" in capsys.readouterr().err
    assert main(["bench", "--suite", "smoke", "--agents", "random", "--out", out]) == 2
    assert "--suite defines the grid" in capsys.readouterr().err
    assert main(["bench", "--agents", "random", "--scenes", "lattice-defects", "--env-kwargs", "{bad", "--out", out]) == 2
    assert "argument --env-kwargs: the value is not valid JSON" in capsys.readouterr().err
    assert main(["leaderboard", str(tmp_path / "missing.sqlite")]) == 2
    assert "no results file" in capsys.readouterr().err
    assert main(["replay", "--agent", "random", "--scene", "nope", "-o", str(tmp_path / "x.gif")]) == 2
    assert "unknown scene 'nope'" in capsys.readouterr().err
