"""Rank agents per scene family from a results file (Markdown, HTML or CSV).

Examples::

    stemscan leaderboard results.sqlite                       # Markdown to stdout
    stemscan leaderboard results.sqlite --format html -o leaderboard.html
    stemscan leaderboard results.sqlite --format csv --budget 0.05
    stemscan leaderboard paper.sqlite mine.zip theirs.zip          # several files and bundles, ranked together
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stemscan.cli_types import float_in

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("results", nargs="+", help="results files of `stemscan bench` or bundles of `stemscan submit` (several are ranked together)")
    parser.add_argument("--format", choices=("md", "html", "csv"), default="md", help="output format (default md)")
    parser.add_argument("-o", "--output", default=None, help="write here (default: stdout; html needs a file)")
    parser.add_argument("--budget", type=float_in(0.0, 1.0, low_open=True), default=None,
                        help="only episodes at this dose budget (fraction of a full frame, (0, 1])")
    parser.add_argument("--no-scan-paths", action="store_true", help="html: skip re-running one episode per agent")


def run(args: argparse.Namespace) -> int:
    from stemscan.atomic import check_output_file, write_text_atomic
    from stemscan.benchmarks.leaderboard import leaderboard
    from stemscan.benchmarks.store import check_output_not_input

    for path in args.results:
        if not Path(path).is_file():
            raise FileNotFoundError(f"no results file at {path}")
    if args.format == "html" and args.output is None:
        raise ValueError("--format html writes a file: give -o PATH")
    if args.output is not None:
        check_output_file(args.output, "--output")
        check_output_not_input(args.output, args.results, "--output")
    text = leaderboard(args.results if len(args.results) > 1 else args.results[0], format=args.format, budget=args.budget, scan_paths=not args.no_scan_paths)
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(args.output, text)
        print(f"wrote {args.output}")
    return 0
