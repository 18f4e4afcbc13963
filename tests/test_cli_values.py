"""Bad command-line values: one line naming the option, exit status 2, nothing written, no traceback or hang."""

from __future__ import annotations

import argparse
import math

import pytest

from stemscan import cli_types
from stemscan.cli import COMMANDS, TRAINERS, build_parser, main
from stemscan.validation import MAX_SEEDS, check_seeds


def _one_error_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


BENCH = ["bench", "--agents", "random", "--scenes", "lattice-defects"]


@pytest.mark.parametrize(
    ("seeds", "needle"),
    [
        ("1000000000", f"<= {MAX_SEEDS}"),
        ("0-1000000000", f"at most {MAX_SEEDS}"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("5-3", "ends before it starts"),
        ("1,,2", "empty entry"),
        ("a-b", "a count N"),
        ("1-2-3", "a count N"),
        ("-3", ">= 1"),
        ("3,-1", ">= 0"),
        ("3,3", "duplicates"),
        ("1e3", "a count N"),
        ("0", ">= 1"),
        ("99999999999999999999999", "a count N"),
    ],
)
def test_bad_seeds_are_refused_before_anything_is_built(seeds, needle, tmp_path, capsys):
    out = tmp_path / "r.sqlite"
    assert main([*BENCH, "--seeds", seeds, "--out", str(out)]) == 2
    _one_error_line(capsys, "argument --seeds", needle)
    assert not out.exists()


def test_check_seeds_limits():
    assert check_seeds("10-12") == [10, 11, 12]
    assert check_seeds(3) == [0, 1, 2]
    assert check_seeds([5, 2]) == [5, 2]
    with pytest.raises(ValueError, match=f"<= {MAX_SEEDS}"):
        check_seeds(10**9)
    with pytest.raises(ValueError, match="at most"):
        check_seeds(range(MAX_SEEDS + 1))
    with pytest.raises(ValueError, match="<="):
        check_seeds([2**63])
    assert len(check_seeds(50, max_seeds=50)) == 50


def test_grid_episode_limit():
    from stemscan.benchmarks import spec

    with pytest.raises(ValueError, match="episodes"):
        spec.expand_grid(["random", "raster"], ["lattice-defects"], MAX_SEEDS, budgets=[0.1 * k for k in range(1, 7)])


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "--agents", "random", "--scenes", "lattice-defects", "--out", "x.sqlite", "--workers", "0"],
        ["bench", "--agents", "random", "--scenes", "lattice-defects", "--out", "x.sqlite", "--workers", "nan"],
        ["train", "ppo", "--eval-freq", "0"],
        ["train", "ppo", "--eval-freq", "-5"],
        ["train", "ppo", "--timesteps", "-1"],
        ["train", "ppo", "--n-envs", "-1"],
        ["train", "rvae", "--rotate-deg", "nan"],
        ["train", "rvae", "--rotate-deg", "inf"],
        ["train", "rvae", "--lr", "0"],
        ["train", "rvae", "--epochs", "0"],
        ["train", "dcnn", "--steps", "0"],
        ["train", "dcnn", "--steps", "-3"],
        ["train", "dcnn", "--threads", "0"],
        ["replay", "--agent", "random", "--scene", "lattice-defects", "-o", "x.gif", "--fps", "inf"],
        ["replay", "--agent", "random", "--scene", "lattice-defects", "-o", "x.gif", "--fps", "0"],
        ["replay", "--agent", "random", "--scene", "lattice-defects", "-o", "x.gif", "--fps", "nan"],
        ["replay", "--agent", "random", "--scene", "lattice-defects", "-o", "x.gif", "--max-side", "0"],
        ["leaderboard", "r.sqlite", "--budget", "nan"],
        ["leaderboard", "r.sqlite", "--budget", "0"],
        ["verify", "r.sqlite", "--sample", "0"],
        ["verify", "r.sqlite", "--workers", "-1"],
        ["scenes", "--size", "0"],
        ["scenes", "--seed", "-1"],
        ["scenes", "simulate", "-o", "x.h5", "--pixel-size", "inf"],
        ["scenes", "simulate", "-o", "x.h5", "--vacancy-fraction", "2"],
    ],
)
def test_bad_numeric_options(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    option = argv[-2]  # the bad value comes last
    assert main(argv) == 2
    _one_error_line(capsys, f"argument {option}")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_zero_ppo_steps_need_imitation(tmp_path, monkeypatch, capsys):
    """``--timesteps 0`` trains the imitated policy only; with imitation off (the default) it is refused."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", "ppo", "--timesteps", "0"]) == 2
    _one_error_line(capsys, "0 is for imitation alone")
    assert list(tmp_path.iterdir()) == []  # nothing written


def _actions(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)
        else:
            yield action


def _all_parsers():
    for name in COMMANDS:
        parser = build_parser([name])
        yield name, parser
    for model in TRAINERS:
        yield f"train {model}", build_parser(["train", model])


def test_every_numeric_option_uses_a_checked_type():
    """Audit: no option of any command takes a bare int/float (nan, inf, negatives pass those silently)."""
    found = 0
    for name, parser in _all_parsers():
        for action in _actions(parser):
            assert action.type not in (int, float), f"stemscan {name} {action.option_strings}: bare {action.type.__name__}"
            if action.type is not None and action.type is not str and callable(action.type):
                found += 1
                for bad in ("nan", "inf", "-inf", "1e999"):
                    try:
                        value = action.type(bad)
                    except argparse.ArgumentTypeError:
                        continue
                    except TypeError:  # e.g. pathlib.Path: not a number
                        continue
                    assert not isinstance(value, (int, float)) or math.isfinite(value), (name, action.option_strings, bad)
    assert found > 30


def test_cli_types():
    assert cli_types.positive_int("3") == 3
    assert cli_types.float_in(0, 1)("0.5") == 0.5
    assert cli_types.seed_list("3,5") == [3, 5]
    assert cli_types.json_object('{"a": [1]}') == {"a": [1]}
    for parse, text in [(cli_types.positive_int, "0"), (cli_types.positive_int, "1.5"), (cli_types.finite_float, "nan"),
                        (cli_types.finite_float, "1e999"), (cli_types.json_object, "[1]"),
                        (cli_types.json_object, "[" * 100_000), (cli_types.seed, str(2**63))]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_replay_unknown_agent_keyword_is_one_line(tmp_path, capsys):
    out = tmp_path / "x.gif"
    assert main(["replay", "--agent", "random", "--scene", "lattice-defects", "-o", str(out),
                 "--agent-kwargs", '{"bogus": 1}']) == 2
    _one_error_line(capsys, "'bogus'")
    assert not out.exists()


def test_bench_unknown_agent_keyword_before_the_file_is_made(tmp_path, capsys):
    out = tmp_path / "r.sqlite"
    assert main([*BENCH, "--agents", "random,raster", "--agent-kwargs", '{"raster": {"serpentin": true}}',
                 "--out", str(out)]) == 2
    _one_error_line(capsys, "'serpentin'")
    assert not out.exists()


def test_rvae_config_refuses_non_finite_rotation():
    from stemscan.agents.train.rvae import RVAETrainConfig

    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="rotate_deg"):
            RVAETrainConfig(rotate_deg=bad).validate()


def test_dcnn_config_refuses_zero_steps():
    from stemscan.agents.train.dcnn import TrainConfig

    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0).validate()


def test_write_gif_refuses_infinite_fps(tmp_path):
    import numpy as np

    from stemscan.benchmarks.replay import Recording, write_gif

    rec = Recording(label="x", frames=[np.zeros((8, 8, 3), np.uint8)], curve=[(0.0, 0.0)], features_found=[0])
    for fps in (float("inf"), 0.0, float("nan")):
        with pytest.raises(ValueError, match="fps"):
            write_gif(tmp_path / "a.gif", rec, fps=fps)
    assert not (tmp_path / "a.gif").exists()
