"""The `stemscan` command: version, help, and only the chosen subcommand imported."""

from __future__ import annotations

import subprocess
import sys

from stemscan import __version__
from stemscan.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
    assert capsys.readouterr().out.strip() == f"stemscan {__version__}"


def test_help_lists_every_command_without_importing_torch():
    code = (
        "import sys, contextlib, io\n"
        "from stemscan.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    main([])\n"
        "assert 'torch' not in sys.modules, 'stemscan --help imported torch'\n"
        "print(out.getvalue())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for command in ("scenes", "bench", "leaderboard", "replay", "train"):
        assert command in result.stdout


def test_scenes_lists_the_families(capsys):
    assert main(["scenes"]) == 0
    assert capsys.readouterr().out.split() == ["ferroelectric-domains", "lattice-defects", "nanoparticles", "phase-separated"]


def test_train_help_only_prints_help(tmp_path):
    """``stemscan train --help`` and ``stemscan train MODEL --help`` print usage, exit 0 and write nothing."""
    for words in (["train", "--help"], ["train", "dcnn", "--help"], ["train", "rvae", "--help"], ["train"]):
        result = subprocess.run(
            [sys.executable, "-m", "stemscan.cli", *words], capture_output=True, text=True, cwd=tmp_path, timeout=120
        )
        assert result.returncode == 0, (words, result.stderr)
        assert result.stdout.startswith("usage: stemscan train"), words
        assert list(tmp_path.iterdir()) == [], words


def test_train_outputs_default_outside_the_package():
    """No trainer writes into the installed package unless told to (``--out``)."""
    from pathlib import Path

    import stemscan
    from stemscan.cli import build_parser

    package = Path(stemscan.__file__).resolve().parent
    for model in ("dcnn", "rvae", "ppo"):
        args = build_parser(["train", model]).parse_args(["train", model])
        out = Path(args.out).resolve()
        assert package not in out.parents, (model, out)
