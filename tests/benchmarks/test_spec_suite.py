"""Grids, seeds and suite files: valid ones expand, bad ones say what is wrong."""

from __future__ import annotations

import pytest

from stemscan.benchmarks import agent_seed, expand_grid, load_suite
from stemscan.benchmarks.spec import parse_seeds


def test_parse_seeds():
    assert parse_seeds(3) == [0, 1, 2]
    assert parse_seeds("4") == [0, 1, 2, 3]
    assert parse_seeds("3,5,8") == [3, 5, 8]
    assert parse_seeds("10-12") == [10, 11, 12]
    for bad in (0, "x", [1, 1], [-1], True):
        with pytest.raises(ValueError, match="seed"):
            parse_seeds(bad)


def test_agent_seed_is_derived_and_differs_from_env_seed():
    assert agent_seed(0) == agent_seed(0)
    assert agent_seed(0) != agent_seed(1)
    assert agent_seed(5) != 5


def test_expand_grid_counts_and_keys():
    specs = expand_grid(["random", "oracle"], ["lattice-defects"], 3, budgets=[0.05, 0.1])
    assert len(specs) == 2 * 3 * 2
    assert len({s.key() for s in specs}) == len(specs)
    assert {s.env_kwargs["dose_budget"] for s in specs} == {0.05, 0.1}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"agents": ["nope"]}, "unknown agent 'nope'; valid names: random, raster, oracle"),
        ({"scenes": ["mars"]}, "unknown scene 'mars'; valid names: .*lattice-defects"),
        ({"budgets": [0.0]}, "dose budgets"),
        ({"env_kwargs": {"imagesize": 64}}, "unknown env kwarg 'imagesize'; valid: .*image_size"),
        ({"env_kwargs": {"scene": "x"}}, "set by the benchmark"),
        ({"agent_kwargs": {"random": {"seed": 3}}}, "derives from the episode seed"),
        ({"scene_agent_kwargs": {"nanoparticles": {"random": {}}}}, "scene 'nanoparticles', which is not in the grid"),
        ({"scene_agent_kwargs": {"lattice-defects": {"raster": {}}}}, "agent 'raster' is not in the grid"),
        ({"scene_agent_kwargs": {"lattice-defects": {"random": {"seed": 1}}}}, "derives from the episode seed"),
        ({"scene_agent_kwargs": {"lattice-defects": ["random"]}}, "must map agent names to keywords"),
    ],
)
def test_expand_grid_errors_name_the_problem(kwargs, message):
    args = {"agents": ["random"], "scenes": ["lattice-defects"], "seeds": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        expand_grid(**args)


def test_builtin_suites_load():
    smoke = load_suite("smoke")
    assert len(smoke.episodes()) == 12
    paper = load_suite("paper")
    assert set(paper.agents) == {"random", "raster", "oracle", "linear-bo", "dcnn-bo", "rvae-bo", "dkl-bo", "ppo"}
    assert len(paper.scenes) == 4 and paper.budgets == [0.05, 0.1]
    assert len(paper.episodes()) == 4 * 8 * 10 * 2
    crossed = load_suite("characterisation")  # the same episodes, watched by the analysts
    assert [s.key() for s in crossed.episodes()] == [s.key() for s in paper.episodes()]
    watched = {s.agent: s.analysts for s in crossed.episodes()}
    for workflow in ("linear-bo", "dcnn-bo", "rvae-bo", "dkl-bo"):  # the navigators with a report() of their own
        assert watched[workflow] == ("peaks", "dcnn", "self")
    for plain in ("random", "raster", "oracle", "ppo"):
        assert watched[plain] == ("peaks", "dcnn")


def test_suite_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('agents = ["raster"]\nscenes = ["lattice-defects"]\nseeds = [4, 9]\n[env]\nimage_size = 64\n'
                    "[agent_kwargs.raster]\nserpentine = true\n")
    suite = load_suite(path)
    specs = suite.episodes()
    assert [s.seed for s in specs] == [4, 9]
    assert specs[0].agent_kwargs == {"serpentine": True} and specs[0].env_kwargs == {"image_size": 64}


def test_scene_agent_kwargs_override_per_scene(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('agents = ["raster", "random"]\nscenes = ["lattice-defects", "nanoparticles"]\n'
                    "[agent_kwargs.raster]\nserpentine = true\n"
                    "[scene_agent_kwargs.nanoparticles.raster]\nserpentine = false\n")  # fmt: skip
    kwargs = {(s.scene, s.agent): s.agent_kwargs for s in load_suite(path).episodes()}
    assert kwargs[("lattice-defects", "raster")] == {"serpentine": True}
    assert kwargs[("nanoparticles", "raster")] == {"serpentine": False}
    assert kwargs[("nanoparticles", "random")] == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('agents = ["random"]\nscenes = ["lattice-defects"]\nbudget = [0.1]\n', "unknown key.*'budget'.*valid keys: .*budgets"),
        ('agents = ["rando"]\nscenes = ["lattice-defects"]\n', "unknown agent 'rando'; valid names"),
        ('agents = ["random"]\nscenes = ["graphene"]\n', "unknown scene 'graphene'; valid names"),
        ('scenes = ["lattice-defects"]\n', "missing required key 'agents'"),
        ('agents = "random"\nscenes = ["lattice-defects"]\n', "'agents' must be a list"),
        ('agents = ["random"\n', "not valid TOML"),
        ('agents = ["random"]\nscenes = ["lattice-defects"]\n[env]\nfoo = 1\n', "unknown env kwarg 'foo'"),
    ],
)
def test_bad_suite_files(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_suite(path)


def test_missing_suite_lists_builtins():
    with pytest.raises(FileNotFoundError, match="built-in suites: characterisation, paper, smoke"):
        load_suite("no-such-suite")
