"""Re-run the episodes of a results file and check that they reproduce.

Examples::

    stemscan verify benchmarks/results/paper.sqlite --sample 20           # 20 random rows, bit for bit
    stemscan verify results.sqlite --all --workers 2
    stemscan verify results.sqlite --statistical --workers 2              # made elsewhere: IQM gain per group

The sampled episodes' characterisation-track rows (table
``identifications``: precision, recall, F1, DEC-AUC per analyst) are
re-made by the same re-run and compared the same way.

Exit status: 0 when everything reproduces (or, with --statistical, every
group is consistent), 1 on any drift, 2 on an error.
"""

from __future__ import annotations

import argparse

from stemscan.cli_types import int_in, positive_int, seed

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("results", help="SQLite results file of `stemscan bench`, or a bundle of `stemscan submit` (.zip)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--sample", type=positive_int, default=None, help="re-run this many randomly chosen rows (default 20)")
    which.add_argument("--all", action="store_true", help="re-run every row")
    parser.add_argument("--seed", type=seed, default=None, help="seed of the random sample (default: fresh, printed)")
    parser.add_argument("--statistical", action="store_true",
                        help="compare IQM gain per (scene, agent) (and IQM DEC-AUC per (scene, navigator+analyst)) with a "
                             "paired bootstrap CI instead of rows bit for bit "
                             "(re-runs every row unless --sample is given)")
    parser.add_argument("--workers", type=int_in(1, 1024), default=1, help="parallel episodes (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fingerprint_lines(stored: dict, here: dict) -> list[str]:
    from stemscan.benchmarks.fingerprint import numeric_differences, summary

    lines = [f"  stored:  {summary(stored)}", f"  here:    {summary(here)}"]
    if stored.get("id") == here.get("id"):
        lines.append("  same environment: every row must reproduce bit for bit")
        return lines
    lines += [f"    {key}: {a} | {b}" for key, a, b in numeric_differences(stored, here)]
    return lines


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    if Path(args.results).suffix.lower() == ".zip":
        from stemscan.benchmarks.bundle import open_bundle

        with open_bundle(args.results) as (results, manifest, problems, notes):
            suite = (manifest.get("suite") or {}).get("name")
            print(f"bundle {args.results}: {len(manifest.get('rows') or {})} rows" + (f", suite {suite}" if suite else ""))
            for note in notes:
                print(f"  note: {note}")
            for problem in problems:
                print(f"  INTEGRITY: {problem}")
            if problems:
                print("the bundle's rows are not the ones its manifest describes")
                return 1
            return _verify(args, str(results))
    return _verify(args, args.results)


def _verify(args: argparse.Namespace, path: str) -> int:
    from stemscan.benchmarks.store import check_references, load_identifications, load_results, load_runs
    from stemscan.benchmarks.verify import (
        default_sample_seed,
        equivalence,
        rerun_with_identifications,
        sample_rows,
        verify_rows,
    )

    rows = load_results(path, as_frame=False)
    if not rows:
        raise ValueError(f"{args.results} holds no episodes")
    check_references(path)  # a run_id that points to no run is damage, not "environment not recorded"
    runs = load_runs(path)
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    seed = default_sample_seed() if args.seed is None else int(args.seed)
    n = None if args.all or (args.statistical and args.sample is None) else (args.sample or 20)
    chosen = sample_rows(rows, n, seed)
    print(f"re-running {len(chosen)} of {len(rows)} episodes of {args.results}" + ("" if n is None else f" (sample seed {seed})"))
    keys = {tuple(r[k] for k in ("agent", "agent_kwargs", "scene", "env_kwargs", "seed")) for r in chosen}
    identifications = [r for r in load_identifications(path)
                       if tuple(r[k] for k in ("agent", "agent_kwargs", "scene", "env_kwargs", "seed")) in keys]
    if args.statistical:
        new_rows, new_ids, here = rerun_with_identifications(chosen, identifications, workers=args.workers,
                                                             progress=not args.no_progress)
        checks = equivalence(chosen, new_rows)
        _print_groups("IQM gain", checks)
        if identifications:
            id_checks = equivalence(identifications, new_ids, column="dec_auc")
            _print_groups("IQM DEC-AUC (navigator+analyst)", id_checks)
            checks = checks + id_checks
        bad = [c for c in checks if not c.consistent]
        print(f"{len(checks) - len(bad)} of {len(checks)} groups consistent with the stored results")
        return 1 if bad else 0
    result = verify_rows(chosen, runs, workers=args.workers, progress=not args.no_progress,
                         identifications=identifications)
    for check in [*result.checks, *result.identification_checks]:
        if check.ok:
            print(f"  ok      {check.label}")
        else:
            print(f"  DIFFERS {check.label}")
            if check.input_changed:
                print("          the scene's image file or labels changed since the row was made (scene_digest differs)")
            for column, stored, new in check.differences:
                print(f"          {column}: stored {_short(stored)} | re-run {_short(new)}")
    print("environment:")
    if not result.stored_fingerprints:
        print("  stored rows carry no fingerprint (made before stemscan recorded them)")
    for stored in result.stored_fingerprints.values():
        print("\n".join(_fingerprint_lines(stored, result.fingerprint)))
    print(f"{len(result.checks) - result.n_differ} of {len(result.checks)} rows reproduce bit for bit")
    if result.identification_checks:
        n = len(result.identification_checks)
        print(f"{n - result.n_identifications_differ} of {n} identification rows reproduce bit for bit")
    return 0 if result.ok else 1


def _print_groups(title: str, checks: list) -> None:
    print(f"{title}:")
    print(f"{'scene':<22} {'agent':<20} {'n':>3} {'stored':>7} {'re-run':>7} {'diff [95% CI]':>24} {'same':>5}  verdict")
    for c in checks:
        ci = f"{c.difference:+.2f} [{c.ci_low:+.2f}, {c.ci_high:+.2f}]"
        verdict = "consistent" if c.consistent else "DIFFERS"
        print(f"{c.scene:<22} {c.agent[:20]:<20} {c.episodes:>3} {c.stored_iqm:>7.2f} {c.rerun_iqm:>7.2f} {ci:>24} {c.identical:>5}  {verdict}")


def _short(value: object, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"
