"""Leaderboard tables and the self-contained HTML page."""

from __future__ import annotations

import csv
import io
import json
import math
import re

import numpy as np
import pytest

from stemscan.benchmarks import leaderboard, run_grid
from stemscan.benchmarks.leaderboard import rank


def _rows():
    """Hand-made rows: agent 'good' beats 'random' on every seed; oracle best."""
    rows = []
    for seed in range(4):
        for agent, gain, found in (("oracle", 6.0 + seed, 0.6), ("good", 3.0 + seed, 0.3), ("random", 1.0, 0.1)):
            rows.append({
                "agent": agent, "agent_kwargs": "{}", "scene": "lattice-defects", "env_kwargs": '{"dose_budget":0.1}',
                "seed": seed, "dose_budget": 0.1, "gain": gain, "score": gain / 2, "auc": found / 2,
                "curve": json.dumps([[0.01, 0.0], [0.1, found]]), "latency_ms_median": 1.0 if agent == "good" else 0.1,
            })
    return rows


def test_rank_orders_by_iqm_gain_and_normalises():
    table = rank(_rows(), reps=200)
    entries = table["lattice-defects"]
    assert [e.agent for e in entries] == ["oracle", "good", "random"]
    good = entries[1]
    # gains 3,4,5,6 -> IQM of n=4 drops one each end -> 4.5
    assert good.gain_iqm == pytest.approx(4.5)
    assert good.gain_ci_low <= good.gain_iqm <= good.gain_ci_high
    assert good.oracle_fraction_iqm == pytest.approx(0.5)
    # per seed (g - 1) / (o - 1) = (2 + s) / (5 + s): IQM over seeds 1, 2 -> mean(3/6, 4/7)
    assert good.oracle_normalised_iqm == pytest.approx((3 / 6 + 4 / 7) / 2)
    assert good.latency_ms_median == 1.0 and good.episodes == 4
    assert rank(_rows(), budget=0.05) == {}


def test_a_scene_without_ground_truth_is_not_ranked_by_a_gain_of_zero():
    rows = [{**row, "scene": "file:plain.npy", "features_total": 0, "gain": 0.0, "score": 0.0} for row in _rows()]
    entries = rank(rows + _rows(), reps=50)
    assert all(math.isnan(e.gain_iqm) and math.isnan(e.score_iqm) for e in entries["file:plain.npy"])
    assert [e.agent for e in entries["file:plain.npy"]] == ["good", "oracle", "random"]  # by name, all last
    assert "| 1 | good | – [–, –] | – |" in leaderboard(rows, format="md")
    assert entries["lattice-defects"][0].gain_iqm > 0  # scored scenes as before


def test_latency_columns_aggregate_median_p90_and_max_over_episodes():
    from stemscan.benchmarks.leaderboard import latency_summary

    rows = []
    for seed, (median, p90, peak) in enumerate([(10.0, 20.0, 30.0), (12.0, 40.0, 90.0), (11.0, 30.0, 35.0), (13.0, None, None)]):
        row = {"agent": "good", "agent_kwargs": "{}", "scene": "lattice-defects", "env_kwargs": "{}", "seed": seed,
               "dose_budget": 0.1, "gain": 1.0, "score": 1.0, "auc": 0.1, "curve": json.dumps([[0.01, 0.0], [0.1, 0.1]]),
               "latency_ms_median": median, "latency_ms_max": peak}
        if seed < 3:  # the fourth is a row from a file without the p90 column
            row["latency_ms_p90"] = p90
        rows.append(row)
    (entry,) = rank(rows, reps=50)["lattice-defects"]
    assert entry.latency_ms_median == pytest.approx(11.5)  # median of 10, 12, 11, 13
    assert entry.latency_ms_p90 == pytest.approx(30.0)  # median of 20, 40, 30 (the fourth has none)
    assert entry.latency_ms_max == pytest.approx(90.0)  # the slowest single decision
    assert np.isnan(latency_summary([{"latency_ms_median": None}])["latency_ms_p90"])
    md = leaderboard(rows, format="md")
    assert "| 11.500 / 30.000 / 90.0 |" in md
    page = leaderboard(rows, format="html", scan_paths=False)
    assert "p90 latency (ms)" in page and "max latency (ms)" in page and 'data-v="90.0"' in page


def test_ranking_does_not_depend_on_row_order():
    rows = []
    for seed in range(10):
        for budget in (0.05, 0.1):  # two strata
            rows.append({
                "agent": "good", "agent_kwargs": "{}", "scene": "lattice-defects",
                "env_kwargs": json.dumps({"dose_budget": budget}), "seed": seed, "dose_budget": budget,
                "gain": 1.0 + 0.37 * seed**1.5 + budget, "score": 1.0, "auc": 0.1,
                "curve": json.dumps([[0.01, 0.0], [budget, 0.1]]), "latency_ms_median": 1.0,
            })
    shuffled = [rows[i] for i in np.random.default_rng(3).permutation(len(rows))]
    assert rank(rows, reps=300) == rank(shuffled, reps=300)


def test_markdown_and_csv():
    md = leaderboard(_rows(), format="md")
    assert "## lattice-defects" in md
    assert "| agent | IQM gain [95% CI] | score (features / 10⁶ e⁻) | oracle fraction | oracle-normalised | latency median / p90 / max (ms) | episodes |" in md
    lines = [line for line in md.splitlines() if line.startswith("| 1 ")]
    assert lines and "oracle" in lines[0]
    table = list(csv.DictReader(io.StringIO(leaderboard(_rows(), format="csv"))))
    assert [r["agent"] for r in table] == ["oracle", "good", "random"]
    assert float(table[1]["gain_iqm"]) == pytest.approx(4.5)
    with pytest.raises(ValueError, match="unknown format 'pdf'"):
        leaderboard(_rows(), format="pdf")


def test_html_is_self_contained_with_plots(tmp_path, tiny_grid):
    path = tmp_path / "r.sqlite"
    run_grid(tiny_grid, path, workers=1, progress=False)
    page = leaderboard(path, format="html", scan_paths=True)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("data:image/png;base64,") == 2  # discovery curves + scan paths
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing fetched from the network
    for agent in ("random", "raster", "oracle"):
        assert f"<span class=\"name\">{agent}</span></td>" in page



def test_html_keeps_long_agent_labels_readable():
    from stemscan.benchmarks.leaderboard import Entry
    from stemscan.benchmarks.report_html import _cell, short_labels

    long = 'rvae-bo {"boundary":"change","centring":"lattice","descriptor":"contrast","edge_px":2,"lattice_px":26.333}'
    tuned = 'linear-bo {"beta":2}'
    assert short_labels(["random", long, tuned]) == {"random": "random", tuned: "linear-bo [1]", long: "rvae-bo [2]"}
    cell = _cell(Entry("f", 1, long, 10, 1.0, 0.5, 1.5, 0.1, 0.2, 0.3, 0.4, 5.0), "agent")
    assert '><span class="name">rvae-bo</span><br><span class="kw">{&quot;boundary&quot;' in cell
