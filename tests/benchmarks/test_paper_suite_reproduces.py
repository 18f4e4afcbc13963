"""The published paper suite reproduces bit-for-bit (a slice, re-run; `.ci/run` runs it).

Guaranteed in the locked environment (``scripts/setup.sh``) on a CPU of the
same vector instruction set as the published file's fingerprint; on failure
the message shows both fingerprints, so a different machine can be told from
a different result (``stemscan verify --statistical`` for the former).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stemscan.benchmarks import load_results, load_suite, run_grid
from stemscan.benchmarks.fingerprint import environment_fingerprint, numeric_differences
from stemscan.benchmarks.store import load_runs
from stemscan.benchmarks.verify import compare_rows

PUBLISHED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "paper.sqlite"

#: Every agent of the zoo on every family at both budgets, one seed: 56 episodes.
SLICE_SEED = 3


def _key(row: dict) -> tuple:
    return (row["agent"], row["agent_kwargs"], row["scene"], row["env_kwargs"], row["seed"])


@pytest.mark.slow
def test_published_rows_reproduce_bit_for_bit(tmp_path):
    assert PUBLISHED.is_file(), f"the published results {PUBLISHED} are missing"
    suite = load_suite("paper")
    specs = [s for s in suite.episodes() if s.seed == SLICE_SEED]
    assert len(specs) == len(suite.agents) * len(suite.scenes) * len(suite.budgets)
    out = tmp_path / "slice.sqlite"
    summary = run_grid(specs, out, workers=2, progress=False)
    assert not summary.failed, summary.failed
    published = {_key(r): r for r in load_results(PUBLISHED, as_frame=False)}
    rerun = load_results(out, as_frame=False)
    assert len(rerun) == len(specs)
    drift = []
    for row in rerun:
        stored = published[_key(row)]
        for column, old, new in compare_rows(stored, row):
            drift.append(f"{row['agent']}/{row['scene']}/b{row['dose_budget']}: {column} {str(old)[:40]} -> {str(new)[:40]}")
    if drift:
        runs = load_runs(PUBLISHED)
        environment = [f"{k}: published {a} | here {b}" for k, a, b in numeric_differences(runs[0]["fingerprint"], environment_fingerprint())
                       ] if runs else ["published rows carry no fingerprint"]
        pytest.fail("published rows do not reproduce:\n  " + "\n  ".join(drift) + "\nenvironment differences:\n  " + "\n  ".join(environment or ["none"]))
