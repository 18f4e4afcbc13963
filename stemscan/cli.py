"""The ``stemscan`` command.

Each subcommand lives in a small module exposing ``configure(parser)`` (adds
its arguments) and ``run(args) -> int``; modules are imported lazily and keep
heavy imports (torch, ray) inside ``run``, so ``stemscan --help`` is instant.
"""

from __future__ import annotations

import sys

from stemscan import __version__, _exit_interrupted, _is_the_command

try:  # Ctrl-C while the command starts: one line and exit status 130 (stemscan/__init__.py guards its own imports)
    import argparse
    import importlib
    import sqlite3
    from collections.abc import Sequence
except KeyboardInterrupt:
    if not _is_the_command():
        raise
    _exit_interrupted()

__all__ = ["CLI_ERRORS", "build_parser", "error_line", "main"]

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "scenes": ("stemscan.scenes.cli_scenes", "list scene families or draw a gallery of them"),
    "bench": ("stemscan.benchmarks.cli_bench", "run agents x scenes x seeds into a results file"),
    "leaderboard": ("stemscan.benchmarks.cli_leaderboard", "rank agents from a results file (md, html, csv)"),
    "replay": ("stemscan.benchmarks.cli_replay", "animate one episode to a GIF"),
    "verify": ("stemscan.benchmarks.cli_verify", "re-run a results file's or bundle's episodes and check that they reproduce"),
    "submit": ("stemscan.benchmarks.cli_submit", "pack a results file into a bundle others can verify"),
}

#: ``stemscan train <model>`` -> (module, one-line help)
TRAINERS: dict[str, tuple[str, str]] = {
    "dcnn": ("stemscan.agents.train.dcnn", "train the DCNN atom/defect segmenter"),
    "rvae": ("stemscan.agents.train.rvae", "pre-train the rotationally invariant VAE"),
    "ppo": ("stemscan.agents.train.ppo_cli", "train the PPO scanning policy"),
    "survey-saliency": ("stemscan.agents.train.survey_saliency", "train the learned survey prior of the BO workflows"),
}


def _add(subparsers: argparse._SubParsersAction, name: str, module_name: str, help_text: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:  # a part of the package that is not installed or not built
        parser = subparsers.add_parser(name, help=f"{help_text} (unavailable: {error})")
        parser.set_defaults(_unavailable=f"`stemscan {name}` is unavailable: {error}")
        return
    parser = subparsers.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip().splitlines()[0])
    module.configure(parser)
    parser.set_defaults(_run=module.run)


def _positionals(argv: Sequence[str]) -> list[str]:
    return [arg for arg in argv if not arg.startswith("-")]


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the module of the chosen subcommand is imported.

    Args:
        argv: The command line (default ``sys.argv[1:]``); ``[]`` gives the
            top-level parser with every subcommand listed but none imported.
    """
    words = _positionals(sys.argv[1:] if argv is None else argv)
    command = words[0] if words else None
    model = words[1] if len(words) > 1 and command == "train" else None
    parser = argparse.ArgumentParser(
        prog="stemscan",
        description="Automated experimentation in STEM: environment, agent zoo and benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"stemscan {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        if name == command:
            _add(subparsers, name, module_name, help_text)
        else:
            subparsers.add_parser(name, help=help_text)
    train = subparsers.add_parser("train", help="train a model of the zoo (dcnn, rvae, ppo, survey-saliency)")
    train_sub = train.add_subparsers(dest="model", metavar="MODEL")
    for name, (module_name, help_text) in TRAINERS.items():
        if name == model:
            _add(train_sub, name, module_name, help_text)
        else:
            train_sub.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``stemscan`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    0 on success, 1 when a command reports a failure (e.g. an episode that
    raised, a result that does not reproduce), 2 on a bad value, file or
    file-system failure: one line ``stemscan COMMAND: error: ...`` on stderr,
    never a traceback; 130 on Ctrl-C (``KeyboardInterrupt``), at start-up
    (importing the command's module) or while it runs: one line
    ``stemscan: interrupted``.
    """
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("stemscan: interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or a bad value (argparse printed one line naming it)
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 2)
    if getattr(args, "_unavailable", None):
        print(args._unavailable, file=sys.stderr)
        return 2
    run = getattr(args, "_run", None)
    if run is None:
        if args.command == "train":
            parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "--help"])
        parser.print_help()
        return 0 if args.command is None else 2
    name = args.command if args.command != "train" else f"train {args.model}"
    try:
        return int(run(args) or 0)
    except CLI_ERRORS as error:
        print(f"stemscan {name}: error: {error_line(error)}", file=sys.stderr)
        return 2


#: Errors a command reports as one line (exit status 2) instead of a traceback: bad values and files
#: (``ValueError``), file-system failures (``OSError``: read-only, missing, full disk, a folder where a
#: file belongs), SQLite failures, missing optional parts, and a structure too deep or too large to handle.
CLI_ERRORS = (ValueError, OSError, sqlite3.Error, ImportError, RuntimeError, RecursionError, MemoryError)


def error_line(error: BaseException) -> str:
    """One line naming the path (or argument) and the reason, e.g. ``out/results.sqlite: No space left on device``."""
    if isinstance(error, OSError) and error.strerror:
        where = error.filename if error.filename is not None else None
        text = f"{where}: {error.strerror}" if where is not None else error.strerror
        if error.filename2 is not None:
            text += f" (-> {error.filename2})"
    elif isinstance(error, MemoryError):
        text = f"out of memory{': ' + str(error) if str(error) else ''} (a size or count too large?)"
    elif isinstance(error, RecursionError):
        text = "input nested too deeply"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())  # one line


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
