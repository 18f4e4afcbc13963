"""Results bundles: one zip that someone else can check (``stemscan submit`` / ``stemscan verify``).

A bundle holds

* ``results.sqlite``: the results store as it is (rows, and runs with their
  environment fingerprints);
* ``manifest.json``: the format version, when and by which stemscan it was
  made, the SHA-256 of ``results.sqlite`` and of every row (non-timing
  columns, canonical JSON) of tables ``episodes`` and ``identifications``, the suite definition and its SHA-256 when one is
  given, and per agent its identity: kind (zoo, entry point, ``module:Class``,
  ``sb3:`` model), distribution and version, and a SHA-256 of its source
  file (or of the model file).

Verification (:func:`open_bundle`) first checks the manifest against the
rows, so an altered row is found without re-running anything; re-running
a sample (:mod:`stemscan.benchmarks.verify`) then checks that the rows are
what the named agents do.  See ``docs/protocol.md``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from stemscan import safejson
from stemscan.benchmarks.verify import IGNORED_COLUMNS

__all__ = ["BUNDLE_FORMAT", "agent_identity", "make_bundle", "open_bundle", "row_digest"]

BUNDLE_FORMAT = "stemscan-results-bundle/1"
_MAX_MEMBER_BYTES = 2 * 1024**3  # refuse zip members that claim more than this when unpacked


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def row_digest(row: Mapping[str, Any]) -> str:
    """SHA-256 of a row's reproducible content (every column but timings, ids and the code version)."""
    content = {k: v for k, v in row.items() if k not in IGNORED_COLUMNS}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def agent_identity(name: str) -> dict[str, Any]:
    """Who an agent name is: kind, module, distribution and version, SHA-256 of its source (where it has a file)."""
    from stemscan.agents.registry import agent_reference

    kind, reference = agent_reference(name)
    identity: dict[str, Any] = {"name": name, "kind": kind}
    if kind == "sb3":
        from stemscan.agents.sb3_model import parse_sb3_name

        _, path = parse_sb3_name(name)
        identity.update(file=str(path), sha256=_sha256_file(path) if path.is_file() else None)
        return identity
    module = reference.partition(":")[0]
    identity["reference"] = reference
    spec = importlib.util.find_spec(module)
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    identity["source_sha256"] = _sha256_file(origin) if origin is not None and origin.is_file() else None
    distributions = metadata.packages_distributions().get(module.split(".")[0], [])
    identity["distribution"] = distributions[0] if distributions else None
    try:
        identity["version"] = metadata.version(distributions[0]) if distributions else None
    except metadata.PackageNotFoundError:
        identity["version"] = None
    return identity


def make_bundle(results: str | os.PathLike[str], out: str | os.PathLike[str], suite: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Write the bundle of the results file ``results`` to ``out`` (a ``.zip``); returns its manifest.

    Raises:
        FileNotFoundError: ``results`` or ``suite`` is missing.
        ValueError: ``results`` is not a results file or holds no rows.
    """
    import stemscan
    from stemscan.atomic import write_bytes_atomic
    from stemscan.benchmarks.store import (
        check_output_not_input,
        check_references,
        load_identifications,
        load_results,
        load_runs,
    )

    results = Path(results)
    check_output_not_input(out, [results] + ([suite] if suite is not None and Path(suite).is_file() else []), "bundle")
    rows = load_results(results, as_frame=False)
    if not rows:
        raise ValueError(f"{results} holds no episodes; nothing to submit")
    check_references(results)
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "created_at": time.time(),
        "stemscan_version": stemscan.__version__,
        "results_sha256": _sha256_file(results),
        "rows": {str(r["id"]): row_digest(r) for r in rows},
        "identifications": {str(r["id"]): _identification_digest(r) for r in load_identifications(results)},
        "agents": [agent_identity(name) for name in sorted({r["agent"] for r in rows})],
        "fingerprints": sorted({run["fingerprint_id"] for run in load_runs(results)}),
        "suite": None,
    }
    if suite is not None:
        from stemscan.benchmarks.suite import builtin_suites

        if str(suite) in builtin_suites():
            from importlib import resources

            text = (resources.files("stemscan.benchmarks") / "suites" / f"{suite}.toml").read_text(encoding="utf-8")
        else:
            text = Path(suite).read_text(encoding="utf-8")
        manifest["suite"] = {"name": Path(str(suite)).stem, "toml": text, "sha256": hashlib.sha256(text.encode()).hexdigest()}
    with tempfile.TemporaryDirectory(prefix="stemscan-bundle-") as folder:
        staging = Path(folder) / "bundle.zip"
        with zipfile.ZipFile(staging, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.write(results, "results.sqlite")
            archive.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
        write_bytes_atomic(out, staging.read_bytes())
    return manifest


def _identification_digest(row: Mapping[str, Any]) -> str:
    """SHA-256 of an identification row's reproducible content (no timings, ids)."""
    return row_digest({k: v for k, v in row.items() if k not in ("analyst_time_s", "finished_at")})


def _row_problems(
    stored: Mapping[str, Mapping[str, Any]],
    expected: Mapping[str, str],
    digest: Callable[[Mapping[str, Any]], str],
    name: Callable[[Mapping[str, Any]], str],
    what: str = "row",
) -> list[str]:
    """One line per altered, missing or extra row: ``stored`` rows by id against the manifest's ``expected`` digests."""
    problems = []
    for row_id, value in expected.items():
        row = stored.get(row_id)
        if row is None:
            problems.append(f"{what} {row_id} is missing")
        elif digest(row) != value:
            problems.append(f"{what} {row_id} ({name(row)}) was altered")
    problems += [f"{what} {i} is not in the manifest" for i in sorted(set(stored) - set(expected), key=int)]
    return problems


def _identification_problems(stored: Mapping[str, Mapping[str, Any]], expected: Mapping[str, str]) -> list[str]:
    """One line per altered, missing or extra row of table ``identifications`` (``stored``: rows by id)."""
    return _row_problems(stored, expected, _identification_digest,
                         lambda r: f"{r['agent']}+{r['analyst']}/{r['scene']}/s{r['seed']}", "identification row")


@contextmanager
def open_bundle(path: str | os.PathLike[str]) -> Iterator[tuple[Path, dict[str, Any], list[str], list[str]]]:
    """Unpack a bundle to a temporary folder and check it against its manifest.

    Yields:
        ``(results_path, manifest, problems, notes)``: the unpacked results
        file, the manifest, one line per integrity problem (an altered,
        missing or extra row, a changed results file; empty when the rows
        are the ones the manifest describes), and one line per agent whose
        installed code or version differs from the bundle's (re-running
        decides whether that matters).

    Raises:
        ValueError: Not a stemscan bundle (names what is wrong).
    """
    from stemscan.benchmarks.store import check_references, load_identifications, load_results, load_runs

    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a results bundle (zip): {error}") from error
    with archive, tempfile.TemporaryDirectory(prefix="stemscan-verify-") as folder:
        members = {info.filename: info for info in archive.infolist()}
        for needed in ("manifest.json", "results.sqlite"):
            if needed not in members:
                raise ValueError(f"{path}: not a results bundle, {needed} is missing")
            if members[needed].file_size > _MAX_MEMBER_BYTES:
                raise ValueError(f"{path}: {needed} claims {members[needed].file_size} bytes unpacked; refusing")
        manifest = safejson.loads(archive.read("manifest.json"), f"{path}: manifest.json")
        if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"{path}: unknown bundle format {manifest.get('format') if isinstance(manifest, dict) else None!r}")
        if not isinstance(manifest.get("rows") or {}, dict) or not isinstance(manifest.get("agents") or [], list) \
                or not all(isinstance(a, dict) for a in manifest.get("agents") or []):
            raise ValueError(f"{path}: manifest.json has malformed 'rows' (an object) or 'agents' (a list of objects)")
        results = Path(folder) / "results.sqlite"
        with archive.open("results.sqlite") as source, open(results, "wb") as target:
            shutil.copyfileobj(source, target)
        problems = []
        if _sha256_file(results) != manifest.get("results_sha256"):
            problems.append("results.sqlite differs from the file the manifest describes")
        try:  # every table read once here, so that a damaged file is named as the bundle's member
            stored = {str(r["id"]): r for r in load_results(results, as_frame=False)}
            load_runs(results)
            check_references(results)
            stored_ids = {str(r["id"]): r for r in load_identifications(results)}
        except (ValueError, OSError, sqlite3.Error) as error:
            text = str(error).replace(str(results), "results.sqlite")
            text = text if text.startswith("results.sqlite") else f"results.sqlite: {text}"
            raise ValueError(f"{path}: {text}") from None
        problems += _row_problems(stored, manifest.get("rows") or {}, row_digest,
                                  lambda r: f"{r['agent']}/{r['scene']}/s{r['seed']}")
        if "identifications" in manifest:  # bundles from before the characterisation track have none
            problems += _identification_problems(stored_ids, manifest["identifications"] or {})
        notes = []
        for identity in manifest.get("agents") or []:
            try:
                here = agent_identity(identity["name"])
            except (ImportError, ValueError, KeyError) as error:
                notes.append(f"agent {identity.get('name')}: not available here ({error})")
                continue
            for key in ("source_sha256", "sha256", "version"):
                if identity.get(key) != here.get(key):
                    notes.append(f"agent {identity['name']}: {key} {identity.get(key)} in the bundle, {here.get(key)} here")
        yield results, manifest, problems, notes
