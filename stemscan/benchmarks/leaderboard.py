"""Leaderboard tables: agents ranked per scene family by IQM gain.

Per (scene family, agent and its kwargs): IQM gain with its stratified
bootstrap 95 % CI (strata: the family's distinct env configurations, e.g.
dose budgets), IQM score (features / 10⁶ e⁻), IQM fraction of the oracle's
discovery at equal dose, IQM oracle-normalised gain, decision latency
(the median over episodes of each episode's median and of its 90th
percentile, and the largest single decision of all episodes), and the
episode count.
"""

from __future__ import annotations

import csv
import io
import math
import os
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from stemscan.benchmarks.aggregate import add_relative_metrics, iqm, stratified_bootstrap_ci
from stemscan.benchmarks.entry import Entry, agent_label

__all__ = [
    "FORMATS", "Entry", "agent_label", "environment_notes", "format_csv", "format_markdown", "latency_summary", "leaderboard",
    "merge_sources", "rank",
]

FORMATS = ("md", "html", "csv")


def _finite_iqm(values: Iterable[float | None]) -> float:
    array = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    array = array[np.isfinite(array)]
    return float(iqm(array)) if array.size else math.nan


def latency_summary(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Decision latency of a group of episodes, ms: ``latency_ms_median`` (median of the episodes' medians),
    ``latency_ms_p90`` (median of their 90th percentiles) and ``latency_ms_max`` (largest of their maxima).

    Episodes without a figure (no decision, or a file from before the column) are left out; NaN when none has one.
    """
    rows = list(rows)
    out = {}
    for column, reduce in (("latency_ms_median", np.median), ("latency_ms_p90", np.median), ("latency_ms_max", np.max)):
        values = np.asarray([float(v) for r in rows if (v := r.get(column)) is not None], dtype=np.float64)
        values = values[np.isfinite(values)]
        out[column] = float(reduce(values)) if values.size else math.nan
    return out


def rank(
    rows: Iterable[Mapping[str, Any]],
    budget: float | None = None,
    reps: int = 2000,
    seed: int = 0,
) -> dict[str, list[Entry]]:
    """Entries per scene family, best IQM gain first.

    Episodes on a scene without ground truth (``features_total`` 0: a real
    image without labels) have no gain: such an entry's gain, score and
    oracle columns are NaN (shown as "–") and it ranks last.

    Args:
        rows: Result rows (:func:`~stemscan.benchmarks.store.load_results`).
        budget: Keep only episodes with this dose budget (fraction of a frame).
        reps: Bootstrap resamples of the CI.
        seed: Seed of the bootstrap generator.
    """
    rows = list(rows)
    if budget is not None:
        rows = [r for r in rows if math.isclose(float(r["dose_budget"]), budget, rel_tol=1e-9)]
    rows = add_relative_metrics(rows)
    groups: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[row["scene"]][agent_label(row)].append(row)
    table: dict[str, list[Entry]] = {}
    for family in sorted(groups):
        entries = []
        for label, members in groups[family].items():
            # strata and their seeds in a fixed order: the CI must not depend on the order rows were stored in
            strata: dict[str, list[float]] = defaultdict(list)
            scored = [r for r in members if r.get("features_total") is None or int(r["features_total"]) > 0]  # no ground truth: no gain
            for row in sorted(scored, key=lambda r: (r["env_kwargs"], int(r["seed"]))):
                strata[row["env_kwargs"]].append(float(row["gain"]))
            if strata:
                estimate, low, high = stratified_bootstrap_ci([strata[k] for k in sorted(strata)], reps=reps, seed=seed)
            else:
                estimate = low = high = math.nan  # shown as "–", ranked last
            latency = latency_summary(members)
            entries.append(
                Entry(
                    family=family,
                    rank=0,
                    agent=label,
                    episodes=len(members),
                    gain_iqm=estimate,
                    gain_ci_low=low,
                    gain_ci_high=high,
                    score_iqm=_finite_iqm(r["score"] for r in scored),
                    auc_iqm=_finite_iqm(r["auc"] for r in scored),
                    oracle_fraction_iqm=_finite_iqm(r["oracle_fraction"] for r in scored),
                    oracle_normalised_iqm=_finite_iqm(r["oracle_normalised"] for r in scored),
                    **latency,
                )
            )
        entries.sort(key=lambda e: (-(e.gain_iqm if math.isfinite(e.gain_iqm) else -math.inf), e.agent))
        table[family] = [Entry(**{**asdict(e), "rank": i + 1}) for i, e in enumerate(entries)]
    return table


def _fmt(value: float, digits: int = 2) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


MARKDOWN_HEADER = (
    "| # | agent | IQM gain [95% CI] | score (features / 10⁶ e⁻) | oracle fraction | oracle-normalised | latency median / p90 / max (ms) | episodes |",
    "|---|---|---|---|---|---|---|---|",
)


def environment_notes(rows: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Lines naming the environment(s) the rows were made in, a warning first when they are mixed.

    Args:
        rows: Result rows (with ``run_id``).
        runs: The file's runs (:func:`~stemscan.benchmarks.store.load_runs`).
    """
    from stemscan.benchmarks.fingerprint import summary

    by_run = {run["run_id"]: run for run in runs}
    counts: dict[str | None, int] = defaultdict(int)
    described: dict[str, Mapping[str, Any]] = {}
    commits: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        run = by_run.get(row.get("run_id"))
        key = None if run is None else run["fingerprint_id"]
        counts[key] += 1
        if run is not None:
            described[key] = run["fingerprint"]
            commits[key].add(f"stemscan {run['stemscan_version']}" + (f" @ {run['git_commit'][:7]}" if run.get("git_commit") else ""))
    lines = []
    if len(counts) > 1:
        lines.append(
            f"Warning: these rows were made in {len(counts)} different environments; rows from different "
            "environments need not agree bit-for-bit (`stemscan verify` tells a different machine from a different result)."
        )
    for key, n in sorted(counts.items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
        if key is None:
            lines.append(f"{n} rows: environment not recorded (made before stemscan recorded fingerprints).")
        else:
            lines.append(f"{n} rows: environment {summary(described[key])}; {', '.join(sorted(commits[key]))}.")
    return lines


def format_markdown(table: Mapping[str, Sequence[Entry]], title: str | None = None, notes: Sequence[str] = ()) -> str:
    """One Markdown table per scene family (``notes``: lines printed under the title, e.g. the environment)."""
    lines = [f"# {title}", ""] if title else []
    for note in notes:
        lines += [f"_{note}_", ""]
    if not table:
        lines.append("_no episodes in the results file_")
    for family, entries in table.items():
        lines += [f"## {family}", "", *MARKDOWN_HEADER]
        for e in entries:
            gain = f"{_fmt(e.gain_iqm)} [{_fmt(e.gain_ci_low)}, {_fmt(e.gain_ci_high)}]"
            lines.append(
                f"| {e.rank} | {e.agent} | {gain} | {_fmt(e.score_iqm)} | {_fmt(e.oracle_fraction_iqm)} | "
                f"{_fmt(e.oracle_normalised_iqm)} | {_fmt(e.latency_ms_median, 3)} / {_fmt(e.latency_ms_p90, 3)} / "
                f"{_fmt(e.latency_ms_max, 1)} | {e.episodes} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def format_csv(table: Mapping[str, Sequence[Entry]]) -> str:
    """All entries as CSV (one line per family and agent; full precision)."""
    buffer = io.StringIO()
    names = list(Entry.__dataclass_fields__)
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for entries in table.values():
        for e in entries:
            writer.writerow(asdict(e))
    return buffer.getvalue()


def _read_source(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows and runs of a results file, or of a bundle's results file (checked against its manifest)."""
    from stemscan.benchmarks.store import check_references, load_results, load_runs

    if os.fspath(path).lower().endswith(".zip"):
        from stemscan.benchmarks.bundle import open_bundle

        with open_bundle(path) as (results, _manifest, problems, _notes):
            if problems:
                raise ValueError(f"{os.fspath(path)}: the bundle's rows are not the ones its manifest describes: {problems[0]}")
            return load_results(results, as_frame=False), load_runs(results)  # open_bundle checked its references
    rows = load_results(path, as_frame=False)
    check_references(path)  # a run_id that points to no run is damage, not "environment not recorded"
    return rows, load_runs(path)


def merge_sources(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows and runs of several results files and bundles as one set.

    Run ids are made unique per source (``"k:run_id"``); an episode stored in
    more than one source (same reproduction key) is kept once, from the
    first, with a warning.
    """
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    duplicates = 0
    for k, path in enumerate(paths):
        source_rows, source_runs = _read_source(path)
        for run in source_runs:
            runs.append({**run, "run_id": f"{k}:{run['run_id']}"})
        for row in source_rows:
            key = (row["agent"], row["agent_kwargs"], row["scene"], row["env_kwargs"], row["seed"])
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            rows.append({**row, "run_id": None if row.get("run_id") is None else f"{k}:{row['run_id']}"})
    if duplicates:
        warnings.warn(f"{duplicates} episodes appear in more than one source; the first copy of each is ranked", stacklevel=2)
    return rows, runs


def _check_budget(rows: Sequence[Mapping[str, Any]], budget: float, source: str) -> None:
    """Raise ``ValueError`` naming the budgets ``rows`` hold unless some row has the dose budget ``budget``."""
    budgets = sorted({float(r["dose_budget"]) for r in rows})
    if not any(math.isclose(b, budget, rel_tol=1e-9) for b in budgets):
        held = f"its dose budgets: {', '.join(f'{b:g}' for b in budgets)}" if budgets else "it holds no episodes"
        raise ValueError(f"no episodes at dose budget {budget:g} in {source}; {held}")


def leaderboard(
    results: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Iterable[Mapping[str, Any]],
    format: str = "md",
    budget: float | None = None,
    scan_paths: bool = True,
) -> str:
    """The leaderboard of a results file (or bundle, or several of them, merged; or of rows) as text.

    Args:
        results: Path of a results file or a ``stemscan submit`` bundle, a
            list of such paths (ranked together), or rows.
        format: ``"md"``, ``"csv"`` or ``"html"`` (a self-contained page).
        budget: Keep only this dose budget.
        scan_paths: HTML only: re-run one episode per agent to draw its scan path.

    Raises:
        ValueError: No row has ``budget`` (the message lists the budgets there are).
    """
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; valid: {', '.join(FORMATS)}")
    notes: list[str] = []
    paths = [results] if isinstance(results, (str, os.PathLike)) else None
    if paths is None and isinstance(results, (list, tuple)) and results and all(isinstance(r, (str, os.PathLike)) for r in results):
        paths = list(results)
    if paths is not None:
        rows, runs = merge_sources(paths)
        title = "stemscan leaderboard — " + ", ".join(os.path.basename(os.fspath(p)) for p in paths)
        notes = environment_notes(rows, runs)
        if notes and notes[0].startswith("Warning"):
            warnings.warn(f"{', '.join(os.fspath(p) for p in paths)}: {notes[0]}", stacklevel=2)
    else:
        rows, title = list(results), "stemscan leaderboard"  # type: ignore[arg-type]
    if budget is not None:
        _check_budget(rows, budget, ", ".join(os.fspath(p) for p in paths) if paths is not None else "the rows")
    table = rank(rows, budget=budget)
    from stemscan.benchmarks import identification_board as track2

    board = track2.rank_identifications(track2.merge_identifications(paths) if paths is not None else [], budget=budget)
    if format == "md":
        second = track2.format_markdown(board)
        return format_markdown(table, title, notes) + ("\n" + second if second else "")
    if format == "csv":
        return format_csv(table)
    from stemscan.benchmarks.report_html import render_html

    if budget is not None:
        rows = [r for r in rows if math.isclose(float(r["dose_budget"]), budget, rel_tol=1e-9)]
    return render_html(rows, table, title=title, scan_paths=scan_paths, notes=notes, sections=[track2.format_html(board)])
