"""Run agents × scenes × seeds into a SQLite results file (resumable).

Examples::

    stemscan bench --suite smoke --out smoke.sqlite
    stemscan bench --agents random,oracle --scenes lattice-defects --seeds 10 \
        --budgets 0.05,0.1 --out results.sqlite --workers 2
    stemscan bench --suite paper --out paper.sqlite --backend ray --address auto
    stemscan bench --agents raster+peaks,dcnn-bo+self --scenes lattice-defects --seeds 2 --out char.sqlite
"""

from __future__ import annotations

import argparse
import math

from stemscan.cli_types import MAX_SEEDS, int_in, json_object, seed_list

__all__ = ["configure", "run"]


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "Seeds: env seed = episode seed; agent seed derived from it (stemscan.benchmarks.spec)."
    grid = parser.add_argument_group("grid (or --suite)")
    from stemscan.benchmarks.suite import builtin_suites

    grid.add_argument("--suite", help=f"built-in suite name ({', '.join(builtin_suites())}) or a suite .toml file")
    grid.add_argument("--agents", help="comma-separated agent names (stemscan.agents.names()), or navigator+analyst pairs (raster+peaks)")
    grid.add_argument("--analysts", help="comma-separated analysts watching every navigator (peaks, dcnn, self): the characterisation track")
    grid.add_argument("--scenes", help="comma-separated scene families (stemscan.scenes.names())")
    grid.add_argument("--seeds", type=seed_list,
                      help=f"number of seeds N (0..N-1), a list '3,5,8' or a range '10-19' (default 1; at most {MAX_SEEDS})")
    grid.add_argument("--budgets", help="comma-separated dose budgets, fractions of a full frame (e.g. 0.05,0.1)")
    grid.add_argument("--env-kwargs", type=json_object, default=None, help='JSON of STEMScan-v0 keywords, e.g. \'{"image_size": 256}\'')
    grid.add_argument("--agent-kwargs", type=json_object, default=None, help='JSON {agent: {kw: value}}, e.g. \'{"raster": {"serpentine": true}}\'')
    parser.add_argument("--out", required=True, help="SQLite results file (created or resumed)")
    parser.add_argument("--backend", choices=("local", "ray"), default="local", help="local processes (default) or Ray tasks")
    parser.add_argument("--workers", type=int_in(1, 1024), default=None, help="parallel episodes (default: all cores)")
    parser.add_argument("--address", default=None, help="Ray cluster address (ray backend; default: start a local Ray)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _specs(args: argparse.Namespace) -> list:
    from stemscan.benchmarks.spec import expand_grid
    from stemscan.benchmarks.suite import load_suite

    env_kwargs, agent_kwargs = args.env_kwargs, args.agent_kwargs
    budgets = None if args.budgets is None else [_float(b) for b in _split(args.budgets) or []]
    if args.suite is not None:
        given = [flag for flag, value in (("--agents", args.agents), ("--analysts", args.analysts),
                                          ("--scenes", args.scenes), ("--seeds", args.seeds),
                                          ("--budgets", args.budgets), ("--env-kwargs", args.env_kwargs),
                                          ("--agent-kwargs", args.agent_kwargs)) if value is not None]
        if given:
            raise ValueError(f"--suite defines the grid; drop {', '.join(given)} (or edit a copy of the suite file)")
        return load_suite(args.suite).episodes()
    if not args.agents or not args.scenes:
        raise ValueError("give --suite, or --agents and --scenes (and --seeds)")
    seeds = 1 if args.seeds is None else args.seeds
    return expand_grid(_split(args.agents), _split(args.scenes), seeds, budgets, env_kwargs, agent_kwargs,
                       analysts=_split(args.analysts))


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--budgets must be numbers, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"--budgets must be finite numbers, got {text!r}")
    return value


def _input_files(args: argparse.Namespace, specs: list) -> list[str]:
    """Files the grid reads: the suite file, ``file:`` scenes and their labels."""
    from pathlib import Path

    from stemscan.benchmarks.suite import builtin_suites

    files = set()
    if args.suite is not None and args.suite not in builtin_suites():
        files.add(str(args.suite))
    for spec in specs:
        if spec.scene.startswith("file:"):
            files.add(spec.scene[len("file:"):])
        labels = (spec.env_kwargs.get("scene_kwargs") or {}).get("labels")
        if isinstance(labels, str):
            files.add(labels)
    return sorted(name for name in files if Path(name).exists())


def run(args: argparse.Namespace) -> int:
    from stemscan.benchmarks.runner import run_grid
    from stemscan.benchmarks.store import check_output_not_input

    specs = _specs(args)
    check_output_not_input(args.out, _input_files(args, specs), "--out")
    try:
        summary = run_grid(specs, args.out, backend=args.backend, workers=args.workers, address=args.address,
                           progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"interrupted; finished episodes are stored in {args.out} (re-run the same command to resume)")
        return 130
    print(
        f"{summary.total} episodes in the grid: {summary.skipped} already stored, {summary.done} run now, "
        f"{len(summary.failed)} failed ({summary.wall_time_s:.1f} s) -> {args.out}"
    )
    for label, error in summary.failed:
        print(f"  failed: {label}: {error}")
    return 0 if summary.ok else 1
