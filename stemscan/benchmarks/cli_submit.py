"""Pack a results file into a bundle that others can verify (rows, suite, agent identities, fingerprints).

Examples::

    stemscan submit results.sqlite -o bundle.zip --suite paper
    stemscan verify bundle.zip --sample 20
"""

from __future__ import annotations

import argparse

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("results", help="SQLite results file of `stemscan bench`")
    parser.add_argument("-o", "--output", required=True, help="the bundle to write (.zip)")
    parser.add_argument("--suite", default=None, help="the suite the results were run from (built-in name or .toml file)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from stemscan.atomic import check_output_file
    from stemscan.benchmarks.bundle import make_bundle
    from stemscan.benchmarks.store import check_output_not_input

    if not Path(args.results).is_file():
        raise FileNotFoundError(f"no results file at {args.results}")
    check_output_file(args.output, "--output")
    suite_file = [args.suite] if args.suite is not None and Path(args.suite).is_file() else []
    check_output_not_input(args.output, [args.results, *suite_file], "--output")
    manifest = make_bundle(args.results, args.output, suite=args.suite)
    agents = ", ".join(a["name"] for a in manifest["agents"])
    print(f"wrote {args.output}: {len(manifest['rows'])} rows, agents {agents}, environments {', '.join(manifest['fingerprints']) or 'not recorded'}")
    return 0
