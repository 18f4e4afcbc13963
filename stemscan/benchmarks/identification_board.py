"""The leaderboard's second track: identification, navigator × analyst.

Per scene family, one table whose rows are navigators (with their kwargs)
and whose columns are analysts; each cell holds the IQM over episodes of
DEC-AUC (area under F1 vs fraction of the dose budget) with its
stratified-bootstrap 95 % CI (strata: the family's env configurations, as
on the discovery track), and the IQM of F1 at the end of the episode.
Rows come from table ``identifications`` of the results files
(:mod:`stemscan.benchmarks.identification_store`).
"""

from __future__ import annotations

import html
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stemscan.benchmarks.aggregate import iqm, stratified_bootstrap_ci
from stemscan.benchmarks.entry import agent_label

__all__ = ["Cell", "format_markdown", "format_html", "merge_identifications", "rank_identifications"]


@dataclass(frozen=True)
class Cell:
    """One (navigator, analyst) pair of a family."""

    dec_auc_iqm: float
    dec_auc_ci_low: float
    dec_auc_ci_high: float
    f1_iqm: float
    localisation_f1_iqm: float
    episodes: int


Board = dict[str, tuple[list[str], list[str], dict[tuple[str, str], Cell]]]


def rank_identifications(rows: Iterable[Mapping[str, Any]], budget: float | None = None, reps: int = 2000, seed: int = 0) -> Board:
    """``{family: (navigators best first, analysts, {(navigator, analyst): Cell})}``.

    Navigators are ordered by their best DEC-AUC IQM over analysts; analysts
    in first-seen order (``self`` last).
    """
    rows = list(rows)
    if budget is not None:
        rows = [r for r in rows if math.isclose(float(r["dose_budget"]), budget, rel_tol=1e-9)]
    groups: dict[str, dict[tuple[str, str], list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[row["scene"]][(agent_label(row), row["analyst"])].append(row)
    board: Board = {}
    for family in sorted(groups):
        cells: dict[tuple[str, str], Cell] = {}
        for pair, members in groups[family].items():
            strata: dict[str, list[float]] = defaultdict(list)
            for row in sorted(members, key=lambda r: (r["env_kwargs"], int(r["seed"]))):
                strata[row["env_kwargs"]].append(float(row["dec_auc"]))
            estimate, low, high = stratified_bootstrap_ci([strata[k] for k in sorted(strata)], reps=reps, seed=seed)
            cells[pair] = Cell(estimate, low, high, float(iqm([float(r["f1"]) for r in members])),
                               float(iqm([float(r["localisation_f1"]) for r in members])), len(members))
        analysts = list(dict.fromkeys(a for _, a in groups[family]))
        analysts.sort(key=lambda a: a == "self")
        best: dict[str, float] = defaultdict(lambda: -math.inf)
        for (navigator, _), cell in cells.items():
            if math.isfinite(cell.dec_auc_iqm):
                best[navigator] = max(best[navigator], cell.dec_auc_iqm)
            else:
                best.setdefault(navigator, -math.inf)
        navigators = sorted(best, key=lambda n: (-best[n], n))
        board[family] = (navigators, analysts, cells)
    return board


def _fmt(value: float) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.2f}"


def _cell_text(cell: Cell | None) -> str:
    if cell is None:
        return "·"
    return f"{_fmt(cell.dec_auc_iqm)} [{_fmt(cell.dec_auc_ci_low)}, {_fmt(cell.dec_auc_ci_high)}] · F1 {_fmt(cell.f1_iqm)}"


NOTE = ("Identification track: detections matched one-to-one to the ground truth within a per-family tolerance "
        "(stemscan.benchmarks.identification); cells: IQM DEC-AUC (area under F1 vs fraction of the dose budget) "
        "[95% CI] · IQM F1 at the end of the episode. Rows: navigators; columns: analysts.")


def format_markdown(board: Board) -> str:
    """The second track as Markdown (empty text when there are no identification rows)."""
    if not board:
        return ""
    lines = ["# Identification track (navigator × analyst)", "", f"_{NOTE}_", ""]
    for family, (navigators, analysts, cells) in board.items():
        lines += [f"## {family} — identification", "", "| navigator | " + " | ".join(analysts) + " |",
                  "|---|" + "---|" * len(analysts)]
        for navigator in navigators:
            lines.append(f"| {navigator} | " + " | ".join(_cell_text(cells.get((navigator, a))) for a in analysts) + " |")
        episodes = sorted({c.episodes for c in cells.values()})
        lines += ["", f"_episodes per cell: {', '.join(map(str, episodes))}_", ""]
    return "\n".join(lines).rstrip() + "\n"


def format_html(board: Board) -> str:
    """The second track as an HTML fragment (empty text when there are no identification rows)."""
    if not board:
        return ""
    parts = ["<h2>Identification track (navigator × analyst)</h2>", f'<p class="note">{html.escape(NOTE)}</p>']
    for family, (navigators, analysts, cells) in board.items():
        head = "<th>navigator</th>" + "".join(f"<th>{html.escape(a)}</th>" for a in analysts)
        body = []
        for navigator in navigators:
            tds = "".join(f'<td data-v="{_data(cells.get((navigator, a)))}">{html.escape(_cell_text(cells.get((navigator, a))))}</td>'
                          for a in analysts)
            body.append(f'<tr><td class="agent">{html.escape(navigator)}</td>{tds}</tr>')
        parts += [f"<h3>{html.escape(family)}</h3>",
                  f'<table class="rank"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(body) + "\n</tbody></table>"]
    return "\n".join(parts)


def _data(cell: Cell | None) -> str:
    return "" if cell is None or not math.isfinite(cell.dec_auc_iqm) else f"{cell.dec_auc_iqm}"


def merge_identifications(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Identification rows of several results files and bundles (a key stored twice is kept once, from the first)."""
    from stemscan.benchmarks.store import load_identifications

    rows: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    for path in paths:
        if os.fspath(path).lower().endswith(".zip"):
            from stemscan.benchmarks.bundle import open_bundle

            with open_bundle(path) as (results, _manifest, problems, _notes):
                if problems:
                    raise ValueError(f"{os.fspath(path)}: the bundle's rows are not the ones its manifest describes: {problems[0]}")
                source = load_identifications(results)
        else:
            source = load_identifications(path)
        for row in source:
            key = (row["agent"], row["agent_kwargs"], row["scene"], row["env_kwargs"], row["seed"], row["analyst"])
            if key not in seen:
                seen.add(key)
                rows.append(row)
    return rows
