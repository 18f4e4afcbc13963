"""Agents from other packages: an installed entry point and a module:Class reference, benchmarked by the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import stemscan.agents
from stemscan.agents.registry import check_agent_kwargs, is_agent_name
from stemscan.benchmarks.spec import expand_grid

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "plugin_demo"
ENV = '{"image_size": 128, "patch_size": 32, "overview_size": 64}'


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The fixture package installed by pip into a folder of its own (no network, no build isolation)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(FIXTURE)],
        check=True, capture_output=True, text=True,
    )
    return target


def _run(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "stemscan.cli", *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_installed_plugin_is_benchmarked_by_name_and_by_reference(site, tmp_path):
    out = tmp_path / "r.sqlite"
    agents = "demo-reverse-raster,stemscan_plugin_demo:ReverseRasterAgent,raster"
    result = _run(site, "bench", "--agents", agents, "--scenes", "lattice-defects", "--seeds", "2", "--budgets", "0.3",
                  "--env-kwargs", ENV, "--workers", "1", "--no-progress", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "6 run now, 0 failed" in result.stdout
    board = _run(site, "leaderboard", str(out), cwd=tmp_path)
    assert board.returncode == 0, board.stderr
    assert "| demo-reverse-raster |" in board.stdout and "| stemscan_plugin_demo:ReverseRasterAgent |" in board.stdout
    listed = subprocess.run([sys.executable, "-c", "import stemscan.agents; print(stemscan.agents.names())"],
                            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(site)))
    assert "'demo-reverse-raster'" in listed.stdout


def test_installed_scene_family_is_benchmarked(site, tmp_path):
    out = tmp_path / "r.sqlite"
    result = _run(site, "bench", "--agents", "demo-reverse-raster,oracle", "--scenes", "demo-dots,lattice-defects",
                  "--seeds", "2", "--budgets", "0.3", "--env-kwargs", ENV, "--workers", "1", "--no-progress",
                  "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "8 run now, 0 failed" in result.stdout
    board = _run(site, "leaderboard", str(out), cwd=tmp_path)
    assert "## demo-dots" in board.stdout
    listed = subprocess.run([sys.executable, "-c", "import stemscan.scenes; print(stemscan.scenes.names())"],
                            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(site)))
    assert "'demo-dots'" in listed.stdout


def test_plugin_options_are_checked_before_the_results_file_exists(site, tmp_path):
    out = tmp_path / "r.sqlite"
    result = _run(site, "bench", "--agents", "demo-reverse-raster", "--scenes", "lattice-defects",
                  "--agent-kwargs", '{"demo-reverse-raster": {"strid": 2}}', "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert "agent 'demo-reverse-raster' has no option 'strid'; its options: stride" in result.stderr
    assert not out.exists()


def test_names_and_references():
    assert is_agent_name("random") and is_agent_name("pkg.mod:Cls")
    assert not is_agent_name("pkg.mod:") and not is_agent_name("no such agent") and not is_agent_name(3)
    with pytest.raises(ValueError, match="cannot import module 'nowhere'"):
        stemscan.agents.agent_class("nowhere:Agent")
    with pytest.raises(ValueError, match="has no attribute 'Nope'"):
        stemscan.agents.agent_class("stemscan.agents.baselines:Nope")
    cls = stemscan.agents.agent_class("stemscan.agents.baselines:RasterAgent")
    assert cls is stemscan.agents.agent_class("raster")


def test_zoo_options_are_checked_in_the_grid_including_core_options():
    check_agent_kwargs("linear-bo", {"window": 8, "beta": 2.0})  # own option and a BO core option
    with pytest.raises(ValueError, match="agent 'linear-bo' has no option 'windw'"):
        expand_grid(["linear-bo"], ["lattice-defects"], 1, agent_kwargs={"linear-bo": {"windw": 8}})
    with pytest.raises(ValueError, match="agent 'rvae-bo' has no option 'lattice'"):
        expand_grid(["rvae-bo"], ["ferroelectric-domains"], 1,
                    scene_agent_kwargs={"ferroelectric-domains": {"rvae-bo": {"lattice": 26.3}}})
