"""The results file's schema: tables, columns, keys, and SQLite introspection of an open file.

:mod:`stemscan.benchmarks.store` creates and migrates files with these
definitions; :mod:`stemscan.benchmarks.store_checks` checks existing files
against them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

__all__ = [
    "ADDED_COLUMNS", "COLUMNS", "EPISODE_JSON", "IDENTIFICATION_JSON", "KEY", "RUNS_SCHEMA", "RUN_COLUMNS", "RUN_JSON",
    "SCHEMA", "has_unique_key", "table_columns",
]

#: Column name -> SQLite type of table ``episodes`` (order of the table).
COLUMNS: dict[str, str] = {
    "version": "TEXT NOT NULL",
    "env_id": "TEXT NOT NULL",
    "agent": "TEXT NOT NULL",
    "agent_kwargs": "TEXT NOT NULL",  # canonical JSON
    "agent_config": "TEXT NOT NULL",  # JSON of agent.config()
    "scene": "TEXT NOT NULL",
    "env_kwargs": "TEXT NOT NULL",  # canonical JSON, dose_budget included
    "seed": "INTEGER NOT NULL",
    "env_seed": "INTEGER NOT NULL",
    "agent_seed": "INTEGER NOT NULL",
    "dose_budget": "REAL NOT NULL",  # fraction of one full frame
    "features_found": "INTEGER NOT NULL",
    "features_total": "INTEGER NOT NULL",
    "found_fraction": "REAL NOT NULL",
    "weight_found": "REAL NOT NULL",
    "dose_used": "REAL NOT NULL",  # electrons
    "dose_budget_e": "REAL NOT NULL",  # electrons
    "dose_fraction": "REAL NOT NULL",  # of one full frame
    "score": "REAL NOT NULL",  # features per 1e6 electrons
    "gain": "REAL NOT NULL",  # found fraction / dose fraction
    "auc": "REAL NOT NULL",  # normalised discovery-curve area
    "dose_to_50": "REAL",  # dose fraction, NULL if never reached
    "dose_to_90": "REAL",
    "coverage": "REAL NOT NULL",
    "scan_time_s": "REAL NOT NULL",
    "steps": "INTEGER NOT NULL",
    "terminated": "INTEGER NOT NULL",
    "curve": "TEXT NOT NULL",  # JSON [[dose_fraction, found_fraction], ...]
    "latency_ms_median": "REAL",
    "latency_ms_p90": "REAL",  # NULL in files from before it was recorded
    "latency_ms_p95": "REAL",
    "latency_ms_mean": "REAL",
    "latency_ms_max": "REAL",
    "wall_time_s": "REAL NOT NULL",
    "agent_time_s": "REAL NOT NULL",
    "env_time_s": "REAL NOT NULL",
    "finished_at": "REAL NOT NULL",  # Unix time
    "run_id": "INTEGER REFERENCES runs (run_id)",  # NULL in files from before runs were recorded
    "scene_digest": "TEXT",  # Scene.digest() of a scene loaded from a file; NULL for generated scenes
}

#: Column name -> SQLite type of table ``runs``.
RUN_COLUMNS: dict[str, str] = {
    "started_at": "REAL NOT NULL",  # Unix time
    "command": "TEXT NOT NULL",
    "stemscan_version": "TEXT NOT NULL",
    "git_commit": "TEXT",
    "fingerprint_id": "TEXT NOT NULL",
    "fingerprint": "TEXT NOT NULL",  # JSON
}

KEY = ("agent", "agent_kwargs", "scene", "env_kwargs", "seed")

#: Columns added after the first release: older files lack them until a writer opens them.
ADDED_COLUMNS = ("run_id", "latency_ms_p90", "scene_digest")

RUNS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS runs (\n    run_id INTEGER PRIMARY KEY,\n    "
    + ",\n    ".join(f"{name} {kind}" for name, kind in RUN_COLUMNS.items())
    + "\n)"
)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS episodes (\n    id INTEGER PRIMARY KEY,\n    "
    + ",\n    ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
    + f",\n    UNIQUE ({', '.join(KEY)})\n)"
)

#: JSON columns and the type their value must parse to (None: any JSON value).
EPISODE_JSON: dict[str, type | None] = {"agent_kwargs": dict, "agent_config": None, "env_kwargs": dict, "curve": list}
RUN_JSON: dict[str, type | None] = {"fingerprint": dict}
IDENTIFICATION_JSON: dict[str, type | None] = {"agent_kwargs": dict, "analyst_config": None, "env_kwargs": dict,
                                                "per_kind": dict, "curve": list}


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def has_unique_key(conn: sqlite3.Connection, table: str, key: Sequence[str]) -> bool:
    """Whether ``table`` has a UNIQUE constraint on exactly the columns ``key``."""
    for index in conn.execute(f"PRAGMA index_list({table})").fetchall():
        name, unique = index[1], index[2]
        if unique and [row[2] for row in conn.execute(f"PRAGMA index_info({name!r})")] == list(key):
            return True
    return False
