"""The published paper suite reproduces bit-for-bit (a small slice, re-run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemscan.benchmarks import TIMING_COLUMNS, load_results, load_suite, run_grid

PUBLISHED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "paper.sqlite"

#: Every agent of the zoo, two families, both budgets, two seeds: 56 episodes.
SLICE_SCENES = ("lattice-defects", "phase-separated")
SLICE_SEEDS = (0, 7)
#: Columns that name the run, not the episode.
RUN_COLUMNS = TIMING_COLUMNS | {"id", "run_id"}


def _key(row: dict) -> tuple:
    return (row["agent"], row["agent_kwargs"], row["scene"], row["env_kwargs"], row["seed"])


@pytest.mark.slow
def test_published_rows_reproduce_bit_for_bit(tmp_path):
    assert PUBLISHED.is_file(), f"the published results {PUBLISHED} are missing"
    suite = load_suite("paper")
    specs = [s for s in suite.episodes() if s.scene in SLICE_SCENES and s.seed in SLICE_SEEDS]
    assert len(specs) == len(suite.agents) * len(SLICE_SCENES) * len(SLICE_SEEDS) * len(suite.budgets)
    out = tmp_path / "slice.sqlite"
    summary = run_grid(specs, out, workers=2, progress=False)
    assert not summary.failed, summary.failed
    published = {_key(r): r for r in load_results(PUBLISHED, as_frame=False)}
    rerun = load_results(out, as_frame=False)
    assert len(rerun) == len(specs)
    for row in rerun:
        stored = published[_key(row)]
        for column, value in row.items():
            if column in RUN_COLUMNS:
                continue
            assert stored[column] == value, (column, _key(row))
