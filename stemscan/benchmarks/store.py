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

Table ``runs`` holds one row per (``bench`` invocation, environment): when it
started, the command, the stemscan version and git commit, and the
environment fingerprint (:mod:`stemscan.benchmarks.fingerprint`) of the
processes that ran its episodes.  Each episode's ``run_id`` points there.
Files written before runs were recorded gain the table and the column when a
writer opens them; their old rows keep ``run_id`` NULL (environment unknown).

Table ``identifications`` holds the characterisation track, one row per
(episode, analyst) (:mod:`stemscan.benchmarks.identification_store`); it
too is added to older files by writers only.
Likewise files from before ``latency_ms_p90`` gain the column (NULL in old
rows).  A read-only open never changes a file, nor creates anything beside
it (no ``-wal`` or ``-shm``: a WAL file that no writer holds is opened
``immutable``): it reads the missing optional columns as NULL.

Readers check what they read and name the file, table, row id and column of
anything that is not what a results file holds (text where a number
belongs, JSON that does not parse, a ``run_id`` that points to no run).  A
writer checks an existing file (``PRAGMA quick_check``, tables, columns,
references) through a read-only connection before it changes anything, so a
file it refuses is left byte for byte as it was.

This module opens, creates, migrates and writes files and reads them back;
the tables are defined in :mod:`stemscan.benchmarks.store_schema`, the
read-only access and file checks live in :mod:`stemscan.benchmarks.store_checks`
and the value checks in :mod:`stemscan.benchmarks.store_values`.
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

from stemscan.atomic import check_output_file
from stemscan.benchmarks import identification_store
from stemscan.benchmarks.store_checks import StoreChecks
from stemscan.benchmarks.store_schema import (
    ADDED_COLUMNS,
    COLUMNS,
    EPISODE_JSON,
    IDENTIFICATION_JSON,
    KEY,
    RUN_COLUMNS,
    RUN_JSON,
    RUNS_SCHEMA,
    SCHEMA,
    table_columns,
)
from stemscan.benchmarks.store_values import check_episode_counts, check_values, sql_value

__all__ = [
    "COLUMNS",
    "RUN_COLUMNS",
    "ResultsStore",
    "check_output_not_input",
    "check_references",
    "load_identifications",
    "load_results",
    "load_runs",
]

class ResultsStore(StoreChecks):
    """An open results file.

    Args:
        path: SQLite file (created with its parent folder if missing, unless
            ``read_only``).
        timeout_s: How long to wait for another writer's lock, seconds.
        read_only: Open for reading only (a ``mode=ro`` connection): nothing
            is created, converted or migrated, and the file may lie on a
            read-only mount.
    """

    def __init__(self, path: str | os.PathLike[str], timeout_s: float = 60.0, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = bool(read_only)
        self._timeout_s = float(timeout_s)
        self._immutable = False
        self._signature: tuple[int, ...] | None = None
        if self.path.is_dir():
            raise ValueError(f"results path {self.path} is a folder; give a .sqlite file")
        self._conn: sqlite3.Connection | None = None
        if self.read_only:
            if not self.path.is_file():
                raise FileNotFoundError(f"no results file at {self.path}")
            self._connect_read_only()
            try:
                self._read("", lambda conn: self._check_schema(conn, writer=False))
            except BaseException:
                self._conn.close()
                raise
            return
        check_output_file(self.path, "results file")  # no /dev/null, device or pipe
        if self.path.is_file() and self.path.stat().st_size > 0:
            self._validate_existing()  # read-only: a refused file is left exactly as it was
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(str(self.path), timeout=timeout_s, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            self._refuse_foreign()
            self._enable_wal(timeout_s)
            self._conn.execute("PRAGMA synchronous = NORMAL")
            with self._transaction():
                self._conn.execute(RUNS_SCHEMA)
                self._conn.execute(SCHEMA)
                present = self._columns()
                for name in ADDED_COLUMNS:
                    if name not in present:
                        self._conn.execute(f"ALTER TABLE episodes ADD COLUMN {name} {COLUMNS[name]}")
                identification_store.create_table(self._conn)
        except sqlite3.Error as error:  # e.g. a read-only folder or mount, a full disk
            if self._conn is not None:
                self._conn.close()
            raise OSError(f"{self.path}: cannot write the results file ({error})") from error
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

    def _refuse_foreign(self) -> None:
        """Refuse, before changing anything, a SQLite file with tables but no ``episodes`` table."""
        try:
            tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as error:
            self._conn.close()
            raise ValueError(f"{self.path} is not a SQLite results file: {error}") from error
        if tables and "episodes" not in tables:
            self._conn.close()
            raise ValueError(
                f"{self.path} is a SQLite file of something else (tables: {', '.join(sorted(tables))}); "
                "refusing to add stemscan tables to it"
            )

    def _columns(self) -> set[str]:
        try:
            return table_columns(self._conn, "episodes")
        except sqlite3.DatabaseError as error:
            self._conn.close()
            raise ValueError(f"{self.path} is not a SQLite results file: {error}") from error

    def _check_columns(self) -> None:
        present = self._columns()
        if not present:
            self._conn.close()
            raise ValueError(f"{self.path} has no table 'episodes'; not a stemscan results file")
        missing = [name for name in COLUMNS if name not in present and name not in ADDED_COLUMNS]
        if missing:
            self._conn.close()
            raise ValueError(f"{self.path}: table 'episodes' lacks columns {missing}; not a stemscan results file of this version")

    def has_runs(self) -> bool:
        """Whether the file records runs (files from before fingerprints do not)."""

        def read(conn: sqlite3.Connection) -> bool:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return "runs" in tables and "run_id" in table_columns(conn, "episodes")

        return bool(self._read("runs", read))

    def add_run(self, fingerprint: dict[str, Any], command: str = "") -> int:
        """Record a run in the environment ``fingerprint``; returns its ``run_id``."""
        if self.read_only:
            raise ValueError(f"{self.path} is open read-only")
        values = {
            "started_at": time.time(),
            "command": command,
            "stemscan_version": str(fingerprint.get("stemscan_version", "")),
            "git_commit": fingerprint.get("git_commit"),
            "fingerprint_id": str(fingerprint["id"]),
            "fingerprint": json.dumps(fingerprint, sort_keys=True),
        }
        with self._transaction() as conn:
            cursor = conn.execute(
                f"INSERT INTO runs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})", list(values.values())
            )
        return int(cursor.lastrowid)

    def runs(self) -> list[dict[str, Any]]:
        """Recorded runs, oldest first, with ``fingerprint`` parsed (empty for files from before runs)."""
        if not self.has_runs():
            return []

        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            cursor = conn.execute("SELECT * FROM runs ORDER BY run_id")
            names = [d[0] for d in cursor.description]
            runs = [dict(zip(names, values)) for values in cursor.fetchall()]
            check_values(self.path, "runs", "run_id", runs, RUN_COLUMNS, RUN_JSON)
            return runs

        runs = self._read("runs", read)
        for run in runs:
            run["fingerprint"] = json.loads(run["fingerprint"])
        return runs

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; a SQLite failure (full disk, lock timeout) becomes an ``OSError`` naming the file.

        On any failure the transaction is rolled back, so no half row is kept.
        """
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise OSError(f"{self.path}: cannot write the results file ({error})") from error
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException as error:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite may have rolled back already (e.g. on a full disk)
            if isinstance(error, sqlite3.OperationalError):
                raise OSError(f"{self.path}: cannot write the results file ({error})") from error
            raise

    def finished_keys(self) -> set[tuple[str, str, str, str, int]]:
        """Reproduction keys of the stored episodes."""
        return self._read("episodes", lambda conn: {tuple(row) for row in conn.execute(f"SELECT {', '.join(KEY)} FROM episodes")})

    def insert(self, row: dict[str, Any]) -> bool:
        """Store one finished episode in its own transaction; False if its key was already stored."""
        if self.read_only:
            raise ValueError(f"{self.path} is open read-only")
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"row has unknown columns {sorted(unknown)}")
        names = list(COLUMNS)
        values = [sql_value(row.get(name)) for name in names]
        with self._transaction() as conn:
            cursor = conn.execute(
                f"INSERT INTO episodes ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
                f"ON CONFLICT ({', '.join(KEY)}) DO NOTHING",
                values,
            )
        return cursor.rowcount == 1

    def rows(self, where: str = "", params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Stored rows as dicts (``where`` is an optional SQL condition with ``?`` parameters)."""
        query = "SELECT * FROM episodes" + (f" WHERE {where}" if where else "") + " ORDER BY id"
        params = tuple(params)

        def read(conn: sqlite3.Connection) -> tuple[list[str], list[dict[str, Any]]]:
            cursor = conn.execute(query, params)
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, values)) for values in cursor.fetchall()]
            check_values(self.path, "episodes", "id", rows, COLUMNS, EPISODE_JSON)
            check_episode_counts(self.path, rows)
            return names, rows

        names, rows = self._read("episodes", read)
        for name in ADDED_COLUMNS:
            if name not in names:  # a file from before the column (read-only: not migrated)
                for row in rows:
                    row[name] = None
        return rows

    # ------------------------------------------- characterisation track
    def insert_identifications(self, rows: list[dict[str, Any]]) -> int:
        """Store an episode's analyst rows in one transaction (:mod:`~stemscan.benchmarks.identification_store`)."""
        if self.read_only:
            raise ValueError(f"{self.path} is open read-only")
        with self._transaction() as conn:
            return identification_store.insert_rows(conn, rows)

    def identification_keys(self) -> set[tuple[Any, ...]]:
        """``(agent, agent_kwargs, scene, env_kwargs, seed, analyst)`` of the stored analyst rows."""
        return self._read("identifications", identification_store.identification_keys)

    def identifications(self) -> list[dict[str, Any]]:
        """The analyst rows (empty for a file without the characterisation track)."""

        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = identification_store.read_rows(conn)
            check_values(self.path, "identifications", "id", rows, identification_store.IDENTIFICATION_COLUMNS,
                          IDENTIFICATION_JSON)
            return rows

        return self._read("identifications", read)

    def count(self) -> int:
        return int(self._read("episodes", lambda conn: conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0]))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



def load_results(path: str | os.PathLike[str], as_frame: bool | None = None) -> Any:
    """Rows of a results file: a pandas ``DataFrame`` if pandas is installed
    (or ``as_frame=True``), else a list of dicts.

    Raises:
        FileNotFoundError: No such file.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"no results file at {path}")
    with ResultsStore(path, read_only=True) as store:
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


def load_runs(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The runs of a results file (see :meth:`ResultsStore.runs`), read-only."""
    with ResultsStore(path, read_only=True) as store:
        return store.runs()


def check_references(path: str | os.PathLike[str]) -> None:
    """:meth:`ResultsStore.check_references` of a results file, read-only."""
    with ResultsStore(path, read_only=True) as store:
        store.check_references()


def load_identifications(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The characterisation track's rows of a results file (table ``identifications``), read-only; [] if none."""
    with ResultsStore(path, read_only=True) as store:
        return store.identifications()


def check_output_not_input(
    output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]], what: str = "--output"
) -> None:
    """Raise ``ValueError`` if ``output`` is one of ``inputs`` (the same file, through links or another spelling too).

    A command that reads a results file and writes something derived from it
    must never replace what it reads.
    """
    target = Path(output)
    for source in inputs:
        source = Path(source)
        try:
            same = os.path.samefile(target, source)
        except OSError:  # one of them does not exist (yet)
            same = target.resolve() == source.resolve()
        if same:
            raise ValueError(f"{what} {target} is the input file {source}; refusing to overwrite it (give another path)")
