"""The HTML leaderboard: one self-contained page (inline CSS, PNGs as base64).

Sections: per-family ranking tables (click a header to sort), discovery
curves per family (median and interquartile band over episodes, per agent),
and a scan-path picture per agent (one episode re-run with
``render_mode="rgb_array"``, the order of its sub-scans drawn over the
final frame).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stemscan.benchmarks.entry import Entry, agent_label
from stemscan.benchmarks.metrics import curve_at

__all__ = ["discovery_curves_png", "render_html", "scan_paths_png", "short_labels"]

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .92em; }
th, td { padding: .35em .8em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { background: #f4f5f7; cursor: pointer; user-select: none; position: sticky; top: 0; }
th:hover { background: #e6e9ef; } td.agent, th.agent { text-align: left; font-weight: 600; }
td.agent { max-width: 24em; } .name, .ci { white-space: nowrap; } .kw { font-weight: normal; font-size: .8em; color: #666; overflow-wrap: anywhere; }
tr:nth-child(1) td { background: #f1faf1; }
.ci { color: #777; font-size: .9em; } .note { color: #666; font-size: .9em; }
img { max-width: 100%; border: 1px solid #eee; }
"""

_SORT_JS = """
document.querySelectorAll('table.rank th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0], rows = Array.from(body.rows);
    var asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

_COLUMNS = (
    ("#", "rank"),
    ("agent", "agent"),
    ("IQM gain [95% CI]", "gain_iqm"),
    ("score (features / 10⁶ e⁻)", "score_iqm"),
    ("discovery AUC", "auc_iqm"),
    ("oracle fraction", "oracle_fraction_iqm"),
    ("oracle-normalised", "oracle_normalised_iqm"),
    ("median latency (ms)", "latency_ms_median"),
    ("p90 latency (ms)", "latency_ms_p90"),
    ("max latency (ms)", "latency_ms_max"),
    ("episodes", "episodes"),
)


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def short_labels(labels: Sequence[str]) -> dict[str, str]:
    """Plot labels: the agent name alone, or ``name [k]`` for the k-th label with keyword options.

    Full labels (``agent {json}``) can be hundreds of characters; figures
    use these short ones and the page lists ``[k]`` with its options.
    """
    out: dict[str, str] = {}
    k = 0
    for label in sorted(set(labels)):
        if " " in label:
            k += 1
            out[label] = f"{label.split(' ', 1)[0]} [{k}]"
        else:
            out[label] = label
    return out


def _legend_notes(labels: Sequence[str]) -> list[str]:
    short = short_labels(labels)
    return [f"{short[label]}: {label}" for label in sorted(short) if short[label] != label]


def discovery_curves_png(rows: Sequence[Mapping[str, Any]], n_points: int = 200) -> str | None:
    """Base64 PNG: one panel per family, median and IQR band of found fraction vs dose per agent."""
    if not rows:
        return None
    plt = _pyplot()
    families = sorted({r["scene"] for r in rows})
    agents = sorted({agent_label(r) for r in rows})
    short = short_labels(agents)
    colours = {a: plt.get_cmap("tab10")(i % 10) for i, a in enumerate(agents)}
    fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.4), squeeze=False, sharey=True)
    for ax, family in zip(axes[0], families):
        members = [r for r in rows if r["scene"] == family]
        x_max = max(float(r["dose_budget"]) for r in members)
        grid = np.linspace(0.0, x_max, n_points)
        for agent in agents:
            runs = [r for r in members if agent_label(r) == agent]
            if not runs:
                continue
            ys = []
            for r in runs:
                curve = json.loads(r["curve"]) if isinstance(r["curve"], str) else r["curve"]
                y = np.asarray(curve_at(curve, grid), dtype=np.float64)
                y[grid > float(r["dose_budget"]) * (1 + 1e-9)] = np.nan
                ys.append(y)
            stack = np.vstack(ys)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=RuntimeWarning)
                low, mid, high = np.nanpercentile(stack, [25, 50, 75], axis=0)
            ax.plot(grid, mid, color=colours[agent], label=short[agent], lw=1.8)
            ax.fill_between(grid, low, high, color=colours[agent], alpha=0.2, lw=0)
        ax.set_title(family)
        ax.set_xlabel("dose (fraction of a full frame)")
        ax.set_xlim(0, x_max)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("features found (fraction)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        h, lab = ax.get_legend_handles_labels()
        for hh, ll in zip(h, lab):
            if ll not in labels:
                handles.append(hh)
                labels.append(ll)
    fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 7), bbox_to_anchor=(0.5, 1.08), frameon=False)
    return _png(fig)


def _path_episodes(rows: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """One episode per agent: first family, smallest budget config, smallest seed."""
    chosen: dict[str, Mapping[str, Any]] = {}
    family = sorted({r["scene"] for r in rows})[0] if rows else None
    candidates = sorted((r for r in rows if r["scene"] == family), key=lambda r: (r["env_kwargs"], r["seed"]))
    for row in candidates:
        chosen.setdefault(agent_label(row), row)
    return chosen


def scan_paths_png(rows: Sequence[Mapping[str, Any]]) -> tuple[str | None, list[str]]:
    """Base64 PNG of one re-run episode per agent with its scan path; and notes on agents that failed."""
    from stemscan.benchmarks.replay import record_spec
    from stemscan.benchmarks.spec import EpisodeSpec

    episodes = _path_episodes(rows)
    if not episodes:
        return None, []
    notes: list[str] = []
    recordings = []
    for label, row in episodes.items():
        spec = EpisodeSpec(row["agent"], row["scene"], int(row["seed"]), json.loads(row["env_kwargs"]), json.loads(row["agent_kwargs"]))
        try:
            recordings.append((label, record_spec(spec, frames=False)))
        except Exception as error:  # an agent whose model is missing must not sink the page
            notes.append(f"{label}: scan path not drawn ({type(error).__name__}: {error})")
    if not recordings:
        return None, notes
    plt = _pyplot()
    short = short_labels([agent_label(r) for r in rows])  # the numbering of the discovery curves
    n = len(recordings)
    cols = min(n, 4)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 3.9 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (label, rec) in zip(axes.ravel(), recordings):
        frame = rec.frames[-1]
        h, w = frame.shape[:2]
        ax.imshow(frame, interpolation="nearest")
        if rec.positions:
            pos = np.asarray(rec.positions)
            ys, xs = pos[:, 0] * h, pos[:, 1] * w
            ax.plot(xs, ys, "-", color="white", lw=0.8, alpha=0.8)
            ax.scatter(xs, ys, c=np.arange(len(xs)), cmap="plasma", s=12, zorder=3)
            ax.plot(xs[0], ys[0], marker="o", ms=8, mfc="none", mec="cyan", mew=1.5)
        ax.set_title(f"{short[label]}\n{rec.label.split(' / ', 1)[1]}: {rec.final_found}/{rec.features_total} found", fontsize=9)
    fig.tight_layout()
    return _png(fig), notes


def _cell(entry: Entry, key: str) -> str:
    value = getattr(entry, key)
    if key == "agent":
        name, _, options = value.partition(" ")
        extra = f'<br><span class="kw">{html.escape(options)}</span>' if options else ""
        return f'<td class="agent" data-v="{html.escape(value)}"><span class="name">{html.escape(name)}</span>{extra}</td>'
    if key in ("rank", "episodes"):
        return f'<td data-v="{value}">{value}</td>'
    text = "–" if not math.isfinite(value) else f"{value:.3f}" if key in ("latency_ms_median", "latency_ms_p90") else f"{value:.1f}" if key == "latency_ms_max" else f"{value:.2f}"
    if key == "gain_iqm" and math.isfinite(value):
        text += f' <span class="ci">[{entry.gain_ci_low:.2f}, {entry.gain_ci_high:.2f}]</span>'
    return f'<td data-v="{value if math.isfinite(value) else ""}">{text}</td>'


def _table(entries: Sequence[Entry]) -> str:
    head = "".join(f'<th class="{"agent" if k == "agent" else ""}">{html.escape(t)}</th>' for t, k in _COLUMNS)
    body = "\n".join("<tr>" + "".join(_cell(e, k) for _, k in _COLUMNS) + "</tr>" for e in entries)
    return f'<table class="rank"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def render_html(
    rows: Sequence[Mapping[str, Any]],
    table: Mapping[str, Sequence[Entry]],
    title: str = "stemscan leaderboard",
    scan_paths: bool = True,
    notes: Sequence[str] = (),
    sections: Sequence[str] = (),
) -> str:
    """The whole page as text (``notes``: lines shown under the title, e.g. the environment;
    ``sections``: HTML fragments appended after the plots, e.g. the identification track)."""
    from stemscan import __version__

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{len(rows)} episodes; stemscan {html.escape(__version__)}. '
        "Gain = found fraction / dose fraction (uniform scanning ≈ 1); IQM over seeds with stratified-bootstrap "
        "95% CI; oracle fraction = found / oracle's found at equal dose; oracle-normalised = "
        "(gain − random) / (oracle − random). Click a header to sort.</p>",
        *(f'<p class="note">{html.escape(note)}</p>' for note in notes),
    ]
    if not table:
        parts.append("<p>No episodes in the results file.</p>")
    for family, entries in table.items():
        parts += [f"<h2>{html.escape(family)}</h2>", _table(entries)]
    curves = discovery_curves_png(rows)
    if curves:
        parts += ["<h2>Discovery curves</h2>",
                  '<p class="note">Median (line) and interquartile band over episodes.</p>',
                  f'<img alt="discovery curves per scene family" src="data:image/png;base64,{curves}">',
                  *(f'<p class="note">{html.escape(n)}</p>' for n in _legend_notes([agent_label(r) for r in rows]))]
    if scan_paths and rows:
        picture, notes = scan_paths_png(rows)
        parts.append("<h2>Scan paths</h2>")
        parts.append('<p class="note">One episode per agent, re-run from its stored seed: sub-scans in order '
                     "(dark → bright dots, start circled in cyan); green squares features found, red missed.</p>")
        if picture:
            parts.append(f'<img alt="scan path per agent" src="data:image/png;base64,{picture}">')
        parts += [f'<p class="note">{html.escape(n)}</p>' for n in notes]
    parts += [section for section in sections if section]
    parts += [f"<script>{_SORT_JS}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"
