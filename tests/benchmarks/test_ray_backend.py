"""The Ray backend: same rows as the local one (slow: starts a local Ray)."""

from __future__ import annotations

import pytest

from stemscan.benchmarks import TIMING_COLUMNS, load_results, run_grid
from stemscan.benchmarks.ray_backend import RAY_MISSING


def test_missing_ray_message_names_the_extra():
    assert 'pip install "stemscan[ray]"' in RAY_MISSING


@pytest.mark.slow
def test_tiny_ray_run_matches_local(tmp_path, tiny_grid):
    pytest.importorskip("ray")
    local = run_grid(tiny_grid, tmp_path / "local.sqlite", workers=1, progress=False)
    remote = run_grid(tiny_grid, tmp_path / "ray.sqlite", backend="ray", workers=2, progress=False)
    assert local.done == remote.done == len(tiny_grid)

    def stable(path):
        return {tuple(r[k] for k in ("agent", "scene", "env_kwargs", "seed")): {k: v for k, v in r.items() if k not in TIMING_COLUMNS and k != "id"}
                for r in load_results(path, as_frame=False)}

    assert stable(tmp_path / "local.sqlite") == stable(tmp_path / "ray.sqlite")
