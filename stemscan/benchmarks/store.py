"""The results store: one SQLite row per finished episode.

Written only by the driver process.  Each row goes in its own transaction
(``BEGIN IMMEDIATE`` … ``COMMIT``) that skips a row whose unique
reproduction key ``(agent, agent_kwargs, scene, env_kwargs, seed)`` is
already stored (``INSERT … ON CONFLICT DO NOTHING``: ``INSERT OR IGNORE`` on
that key only, so a NOT NULL violation still raises), in WAL journal mode
with a busy timeout, so

* a run killed at any moment (SIGINT, SIGKILL) keeps every committed row and
  never leaves half of one (SQLite's atomic commit);
* a re-run skips stored keys; two ``bench`` processes on one file both
  succeed and store each key once.

``synchronous=NORMAL`` in WAL mode survives the death of the process; only a
power loss may lose the last commits.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "ResultsStore", "load_results"]

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
    "latency_ms_p95": "REAL",
    "latency_ms_mean": "REAL",
    "latency_ms_max": "REAL",
    "wall_time_s": "REAL NOT NULL",
    "agent_time_s": "REAL NOT NULL",
    "env_time_s": "REAL NOT NULL",
    "finished_at": "REAL NOT NULL",  # Unix time
}

_KEY = ("agent", "agent_kwargs", "scene", "env_kwargs", "seed")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS episodes (\n    id INTEGER PRIMARY KEY,\n    "
    + ",\n    ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
    + f",\n    UNIQUE ({', '.join(_KEY)})\n)"
)


class ResultsStore:
    """An open results file.

    Args:
        path: SQLite file (created with its parent folder if missing).
        timeout_s: How long to wait for another writer's lock, seconds.
    """

    def __init__(self, path: str | os.PathLike[str], timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"results path {self.path} is a folder; give a .sqlite file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=timeout_s, isolation_level=None)
        self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        self._enable_wal(timeout_s)
        self._conn.execute("PRAGMA synchronous = NORMAL")
        with self._transaction():
            self._conn.execute(_SCHEMA)
        self._check_columns()

    def _enable_wal(self, timeout_s: float) -> None:
        """Switch to WAL journaling, waiting while another process holds the file.

        Two processes opening a new file at once race for this switch, and
        SQLite answers "database is locked" without honouring the busy
        timeout, so the switch is retried until ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" in str(error) and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                self._conn.close()
                raise ValueError(f"{self.path} could not be opened as a SQLite results file: {error}") from error
            except sqlite3.DatabaseError as error:
                self._conn.close()
                raise ValueError(f"{self.path} is not a SQLite results file: {error}") from error

    def _check_columns(self) -> None:
        present = {row[1] for row in self._conn.execute("PRAGMA table_info(episodes)")}
        missing = [name for name in COLUMNS if name not in present]
        if missing:
            raise ValueError(f"{self.path}: table 'episodes' lacks columns {missing}; not a stemscan results file of this version")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def finished_keys(self) -> set[tuple[str, str, str, str, int]]:
        """Reproduction keys of the stored episodes."""
        return {tuple(row) for row in self._conn.execute(f"SELECT {', '.join(_KEY)} FROM episodes")}  # type: ignore[misc]

    def insert(self, row: dict[str, Any]) -> bool:
        """Store one finished episode in its own transaction; False if its key was already stored."""
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"row has unknown columns {sorted(unknown)}")
        names = list(COLUMNS)
        values = [_sql_value(row.get(name)) for name in names]
        with self._transaction() as conn:
            cursor = conn.execute(
                f"INSERT INTO episodes ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
                f"ON CONFLICT ({', '.join(_KEY)}) DO NOTHING",
                values,
            )
        return cursor.rowcount == 1

    def rows(self, where: str = "", params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Stored rows as dicts (``where`` is an optional SQL condition with ``?`` parameters)."""
        query = "SELECT * FROM episodes" + (f" WHERE {where}" if where else "") + " ORDER BY id"
        cursor = self._conn.execute(query, tuple(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values)) for values in cursor.fetchall()]

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0])

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sql_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def load_results(path: str | os.PathLike[str], as_frame: bool | None = None) -> Any:
    """Rows of a results file: a pandas ``DataFrame`` if pandas is installed
    (or ``as_frame=True``), else a list of dicts.

    Raises:
        FileNotFoundError: No such file.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"no results file at {path}")
    with ResultsStore(path) as store:
        rows = store.rows()
    if as_frame is False:
        return rows
    try:
        import pandas as pd
    except ImportError:
        if as_frame:
            raise ImportError("load_results(as_frame=True) needs pandas: pip install pandas") from None
        return rows
    return pd.DataFrame(rows, columns=["id", *COLUMNS])
