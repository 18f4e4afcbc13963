"""Table ``identifications`` of the results store: the characterisation track.

One row per (episode, analyst): the episode's reproduction key (``agent``,
``agent_kwargs``, ``scene``, ``env_kwargs``, ``seed``, as in table
``episodes``), the analyst, and its scores
(:mod:`stemscan.benchmarks.characterise`).  Created, like ``runs``, when a
writer opens a file (older files gain it); readers of a file without it
see no identifications.  Rows are written by the driver in their own
transaction after their episode's row, ``ON CONFLICT DO NOTHING`` on
``(key, analyst)``; an episode whose analysts' rows are missing (a crash
in between, or analysts added to a grid later) is re-played for them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

__all__ = ["IDENTIFICATION_COLUMNS", "KEY", "create_table", "identification_keys", "insert_rows", "read_rows"]

#: Column name -> SQLite type of table ``identifications``.
IDENTIFICATION_COLUMNS: dict[str, str] = {
    "agent": "TEXT NOT NULL",  # the navigator
    "agent_kwargs": "TEXT NOT NULL",
    "scene": "TEXT NOT NULL",
    "env_kwargs": "TEXT NOT NULL",
    "seed": "INTEGER NOT NULL",
    "analyst": "TEXT NOT NULL",
    "analyst_config": "TEXT NOT NULL",  # JSON of analyst.config()
    "dose_budget": "REAL NOT NULL",  # fraction of one full frame
    "detections": "INTEGER NOT NULL",  # at the end of the episode
    "features_total": "INTEGER NOT NULL",
    "precision": "REAL NOT NULL",  # kind-aware, at the end of the episode
    "recall": "REAL NOT NULL",
    "f1": "REAL NOT NULL",
    "localisation_f1": "REAL NOT NULL",  # kinds ignored
    "dec_auc": "REAL NOT NULL",  # area under F1 vs budget fraction, [0, 1]
    "localisation_dec_auc": "REAL NOT NULL",
    "per_kind": "TEXT NOT NULL",  # JSON {kind: {tp, fp, fn, precision, recall, f1}}
    "curve": "TEXT NOT NULL",  # JSON [[budget_fraction, f1, localisation_f1], ...]
    "analyst_time_s": "REAL NOT NULL",
    "finished_at": "REAL NOT NULL",
    "run_id": "INTEGER REFERENCES runs (run_id)",
}

_KEY = ("agent", "agent_kwargs", "scene", "env_kwargs", "seed", "analyst")

#: The unique key of a row: the episode's reproduction key and the analyst.
KEY = _KEY

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS identifications (\n    id INTEGER PRIMARY KEY,\n    "
    + ",\n    ".join(f"{name} {kind}" for name, kind in IDENTIFICATION_COLUMNS.items())
    + f",\n    UNIQUE ({', '.join(_KEY)})\n)"
)


def create_table(conn: sqlite3.Connection) -> None:
    """Create the table if missing (inside the caller's transaction)."""
    conn.execute(SCHEMA)


def _exists(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'identifications'").fetchone() is not None


def insert_rows(conn: sqlite3.Connection, rows: Iterable[dict[str, Any]]) -> int:
    """Insert rows (inside the caller's transaction); returns how many were new."""
    names = list(IDENTIFICATION_COLUMNS)
    added = 0
    for row in rows:
        unknown = set(row) - set(names)
        if unknown:
            raise ValueError(f"identification row has unknown columns {sorted(unknown)}")
        values = [json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v for v in (row.get(n) for n in names)]
        cursor = conn.execute(
            f"INSERT INTO identifications ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
            f"ON CONFLICT ({', '.join(_KEY)}) DO NOTHING",
            values,
        )
        added += cursor.rowcount == 1
    return added


def identification_keys(conn: sqlite3.Connection) -> set[tuple[Any, ...]]:
    """``(agent, agent_kwargs, scene, env_kwargs, seed, analyst)`` of the stored rows (empty without the table)."""
    if not _exists(conn):
        return set()
    return {tuple(row) for row in conn.execute(f"SELECT {', '.join(_KEY)} FROM identifications")}


def read_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Stored rows as dicts, in insertion order (empty without the table)."""
    if not _exists(conn):
        return []
    cursor = conn.execute("SELECT * FROM identifications ORDER BY id")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values)) for values in cursor.fetchall()]
