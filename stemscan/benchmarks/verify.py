"""Verify a results file by re-running its episodes.

Two checks, for two situations:

* **Exact** (:func:`verify_rows`): re-run stored episodes (all, or a seeded
  random sample) and compare every non-timing column, and the same for
  each episode's characterisation-track rows (table ``identifications``:
  precision, recall, F1, DEC-AUC, ... per analyst; its analysts watch the
  re-run as they watched the original).  In the environment
  that made the file (same lock, same kind of CPU: the same fingerprint id,
  see :mod:`stemscan.benchmarks.fingerprint`) every row must agree
  bit-for-bit; any difference is drift.  A difference that comes with a
  different fingerprint may be the machine, not the result.
* **Statistical** (:func:`equivalence`): for a file made elsewhere, compare
  each (scene, agent) group's IQM gain with the re-run one: the paired
  difference and its stratified-bootstrap 95 % CI over seeds.  On another
  CPU, last-bit differences move single episodes both ways; a CI that
  contains 0 says "different machine, same result", a CI that excludes 0 says
  "a different result".  The characterisation track's rows get the same
  test on their DEC-AUC, per (scene, navigator+analyst) group.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stemscan.benchmarks.aggregate import iqm
from stemscan.benchmarks.episode import ENV_ID, TIMING_COLUMNS
from stemscan.benchmarks.spec import EpisodeSpec, canonical_json

__all__ = [
    "IGNORED_COLUMNS",
    "IGNORED_IDENTIFICATION_COLUMNS",
    "GroupCheck",
    "RowCheck",
    "Verification",
    "compare_rows",
    "default_sample_seed",
    "equivalence",
    "rerun",
    "rerun_with_identifications",
    "sample_rows",
    "spec_of_row",
    "verify_rows",
]

#: Columns not compared: timings, storage ids, and the code version (reported apart).
IGNORED_COLUMNS = TIMING_COLUMNS | {"id", "run_id", "version"}

#: Columns of table ``identifications`` not compared: the analyst's time and the storage ids.
IGNORED_IDENTIFICATION_COLUMNS = IGNORED_COLUMNS | {"analyst_time_s"}

_KEY = ("agent", "agent_kwargs", "scene", "env_kwargs", "seed")


def _key(row: Mapping[str, Any]) -> tuple:
    return tuple(row[k] for k in _KEY)


def spec_of_row(row: Mapping[str, Any], analysts: Sequence[str] = ()) -> EpisodeSpec:
    """The episode a stored row came from (watched by ``analysts``, the characterisation track's).

    Raises:
        ValueError: A row of another env id, or kwargs that are not JSON objects.
    """
    if row.get("env_id", ENV_ID) != ENV_ID:
        raise ValueError(f"row {row.get('id')} was made with env {row['env_id']!r}; this stemscan runs {ENV_ID}")
    try:
        env_kwargs = json.loads(row["env_kwargs"])
        agent_kwargs = json.loads(row["agent_kwargs"])
    except (TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"row {row.get('id')} has kwargs that are not JSON: {error}") from error
    if not isinstance(env_kwargs, dict) or not isinstance(agent_kwargs, dict):
        raise ValueError(f"row {row.get('id')}: env_kwargs and agent_kwargs must be JSON objects")
    spec = EpisodeSpec(str(row["agent"]), str(row["scene"]), int(row["seed"]), env_kwargs, agent_kwargs, tuple(analysts))
    if spec.key() != (row["agent"], canonical_json(agent_kwargs), row["scene"], canonical_json(env_kwargs), int(row["seed"])):
        raise ValueError(f"row {row.get('id')}: its kwargs are not in canonical form")
    return spec


def sample_rows(rows: Sequence[Mapping[str, Any]], n: int | None, seed: int) -> list[Mapping[str, Any]]:
    """``n`` rows drawn without replacement by a generator seeded with ``seed`` (all rows when ``n`` is None), in file order."""
    if n is None or n >= len(rows):
        return list(rows)
    if n < 1:
        raise ValueError(f"the sample size must be >= 1, got {n}")
    chosen = np.sort(np.random.default_rng(seed).choice(len(rows), size=n, replace=False))
    return [rows[i] for i in chosen]


def rerun(rows: Sequence[Mapping[str, Any]], workers: int = 1, progress: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Re-run the episodes of ``rows``; returns the new rows and this environment's fingerprint.

    Raises:
        RuntimeError: An episode failed to run.
    """
    new_rows, _, fingerprint = rerun_with_identifications(rows, (), workers, progress)
    return new_rows, fingerprint


def _analysts_by_key(identifications: Sequence[Mapping[str, Any]]) -> dict[tuple, list[str]]:
    """Each episode key's analysts, in stored order."""
    out: dict[tuple, list[str]] = defaultdict(list)
    for row in identifications:
        if row["analyst"] not in out[_key(row)]:
            out[_key(row)].append(str(row["analyst"]))
    return out


def rerun_with_identifications(
    rows: Sequence[Mapping[str, Any]],
    identifications: Sequence[Mapping[str, Any]] = (),
    workers: int = 1,
    progress: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Re-run the episodes of ``rows``, watched by the analysts of their stored ``identifications`` rows.

    Returns:
        The new episode rows, the new identification rows and this environment's fingerprint.

    Raises:
        RuntimeError: An episode failed to run.
    """
    from stemscan.benchmarks.runner import run_grid
    from stemscan.benchmarks.store import load_identifications, load_results, load_runs

    watching = _analysts_by_key(identifications)
    specs = [spec_of_row(row, watching.get(_key(row), ())) for row in rows]
    _check_input_files(specs)
    with tempfile.TemporaryDirectory(prefix="stemscan-verify-") as folder:
        out = Path(folder) / "rerun.sqlite"
        summary = run_grid(specs, out, workers=workers, progress=progress, command="stemscan verify")
        if summary.failed:
            raise RuntimeError("re-running failed for " + "; ".join(f"{label}: {error}" for label, error in summary.failed))
        new_rows = load_results(out, as_frame=False)
        new_identifications = load_identifications(out) if watching else []
        runs = load_runs(out)
    return new_rows, new_identifications, (runs[0]["fingerprint"] if runs else {})


def _check_input_files(specs: Sequence[EpisodeSpec]) -> None:
    """Raise ``ValueError`` naming the row's image or labels file when a ``file:`` scene's input is missing here.

    Rows keep the paths they were made with, relative to the working
    directory of that run; verify has to run where they resolve again.
    """
    for spec in specs:
        if not spec.scene.startswith("file:"):
            continue
        paths = [spec.scene[len("file:"):]]
        labels = (spec.env_kwargs.get("scene_kwargs") or {}).get("labels")
        if isinstance(labels, str):
            paths.append(labels)
        for path in paths:
            if not Path(path).is_file():
                raise ValueError(
                    f"{spec.agent}/{spec.scene}/seed {spec.seed}: input file {path!r} not found from {Path.cwd()}; "
                    "a row keeps the paths it was made with, so run verify from the directory the results were made in"
                )


@dataclass
class RowCheck:
    """One re-run row against its stored row.

    Attributes:
        label: ``agent/scene/seed/budget``.
        differences: ``(column, stored, re-run)`` for each differing column.
        stored_fingerprint_id: Environment of the stored row (None if not recorded).
    """

    label: str
    differences: list[tuple[str, Any, Any]]
    stored_fingerprint_id: str | None

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def input_changed(self) -> bool:
        """The scene loaded from a file is not the one the row was made on (its ``scene_digest`` differs)."""
        return any(column == "scene_digest" for column, _, _ in self.differences)


@dataclass
class Verification:
    """Result of :func:`verify_rows`."""

    checks: list[RowCheck]
    fingerprint: dict[str, Any]
    stored_fingerprints: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: One per stored identification row of the re-run episodes (label ``navigator+analyst/scene/seed/budget``).
    identification_checks: list[RowCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and all(c.ok for c in self.identification_checks)

    @property
    def n_differ(self) -> int:
        """Episode rows that differ."""
        return sum(not c.ok for c in self.checks)

    @property
    def n_identifications_differ(self) -> int:
        """Identification rows that differ."""
        return sum(not c.ok for c in self.identification_checks)


def _label(row: Mapping[str, Any]) -> str:
    return f"{row['agent']}/{row['scene']}/s{row['seed']}/b{row['dose_budget']:g}"


def _identification_label(row: Mapping[str, Any]) -> str:
    return f"{row['agent']}+{row['analyst']}/{row['scene']}/s{row['seed']}/b{row['dose_budget']:g}"


def compare_rows(
    stored: Mapping[str, Any], new: Mapping[str, Any], ignored: frozenset[str] | set[str] = IGNORED_COLUMNS
) -> list[tuple[str, Any, Any]]:
    """``(column, stored, new)`` for every column not in ``ignored`` whose values differ."""
    out = []
    for column, value in stored.items():
        if column in ignored:
            continue
        other = new.get(column)
        if isinstance(value, float) and isinstance(other, float) and math.isnan(value) and math.isnan(other):
            continue
        if value != other:
            out.append((column, value, other))
    return out


def verify_rows(
    rows: Sequence[Mapping[str, Any]],
    runs: Sequence[Mapping[str, Any]] = (),
    workers: int = 1,
    progress: bool = False,
    identifications: Sequence[Mapping[str, Any]] = (),
) -> Verification:
    """Re-run ``rows`` and compare each with its stored self (see the module docstring).

    Args:
        rows: Stored episode rows.
        runs: The file's runs (their fingerprints).
        workers: Parallel episodes.
        progress: Show a progress bar.
        identifications: Stored identification rows (any; those of ``rows``' episodes are checked).
    """
    keys = {_key(r) for r in rows}
    stored_ids = [r for r in identifications if _key(r) in keys]
    new_rows, new_ids, fingerprint = rerun_with_identifications(rows, stored_ids, workers=workers, progress=progress)
    by_key = {_key(r): r for r in new_rows}
    by_run = {run["run_id"]: run for run in runs}
    checks, stored_fingerprints = [], {}
    for row in rows:
        run = by_run.get(row.get("run_id"))
        fid = None if run is None else run["fingerprint_id"]
        if run is not None:
            stored_fingerprints[fid] = run["fingerprint"]
        # a row made before scene digests were recorded has none to compare (NULL): nothing says its input changed
        ignored = IGNORED_COLUMNS | {"scene_digest"} if row.get("scene_digest") is None else IGNORED_COLUMNS
        checks.append(RowCheck(_label(row), compare_rows(row, by_key[_key(row)], ignored), fid))
    fids = {run["run_id"]: run["fingerprint_id"] for run in runs}
    new_by_key = {(*_key(r), r["analyst"]): r for r in new_ids}
    id_checks = []
    for row in stored_ids:
        other = new_by_key.get((*_key(row), row["analyst"]))
        differences = [("row", "stored", "not re-made")] if other is None else compare_rows(
            row, other, IGNORED_IDENTIFICATION_COLUMNS)
        id_checks.append(RowCheck(_identification_label(row), differences, fids.get(row.get("run_id"))))
    return Verification(checks, fingerprint, stored_fingerprints, id_checks)


@dataclass(frozen=True)
class GroupCheck:
    """One (scene, agent) group: stored vs re-run IQM gain.

    Attributes:
        scene, agent: The group (agent with its kwargs).
        episodes: Paired episodes.
        stored_iqm, rerun_iqm: IQM gain of each side.
        difference, ci_low, ci_high: re-run − stored IQM, with its paired
            stratified-bootstrap 95 % CI (strata: env configurations).
        identical: Episodes whose gain is the same on both sides.
    """

    scene: str
    agent: str
    episodes: int
    stored_iqm: float
    rerun_iqm: float
    difference: float
    ci_low: float
    ci_high: float
    identical: int

    @property
    def consistent(self) -> bool:
        """The CI of the difference contains 0 (or both sides are identical)."""
        return self.identical == self.episodes or self.ci_low <= 0.0 <= self.ci_high


def equivalence(
    stored: Sequence[Mapping[str, Any]],
    rerun_rows: Sequence[Mapping[str, Any]],
    reps: int = 2000,
    seed: int = 0,
    column: str = "gain",
) -> list[GroupCheck]:
    """Paired IQM comparison of ``column`` per (scene, agent) group (see the module docstring).

    Rows of table ``identifications`` (with an ``analyst``; use ``column="dec_auc"``)
    are paired and grouped per (scene, ``navigator+analyst``).
    """
    from stemscan.benchmarks.entry import agent_label

    def key(row: Mapping[str, Any]) -> tuple:
        return (*_key(row), row.get("analyst"))

    def label(row: Mapping[str, Any]) -> str:
        return agent_label(row) + (f"+{row['analyst']}" if row.get("analyst") else "")

    new = {key(r): r for r in rerun_rows}
    groups: dict[tuple[str, str], dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for row in sorted(stored, key=lambda r: (r["env_kwargs"], int(r["seed"]))):
        other = new.get(key(row))
        if other is not None:
            groups[(row["scene"], label(row))][row["env_kwargs"]].append((float(row[column]), float(other[column])))
    rng = np.random.default_rng(seed)
    checks = []
    for (scene, agent), strata in sorted(groups.items()):
        pairs = [np.asarray(strata[k]) for k in sorted(strata)]
        both = np.concatenate(pairs)
        a, b = both[:, 0], both[:, 1]
        samples = []
        for _ in range(reps):
            picked = np.concatenate([p[rng.integers(0, len(p), size=len(p))] for p in pairs])
            samples.append(iqm(picked[:, 1]) - iqm(picked[:, 0]))
        low, high = np.percentile(samples, [2.5, 97.5])
        checks.append(
            GroupCheck(scene, agent, len(both), float(iqm(a)), float(iqm(b)), float(iqm(b) - iqm(a)), float(low), float(high),
                       int(np.sum(a == b)))
        )
    return checks


def default_sample_seed() -> int:
    """A fresh sample seed from the OS (printed by the CLI so that a check can be repeated)."""
    return int.from_bytes(os.urandom(4), "little")
