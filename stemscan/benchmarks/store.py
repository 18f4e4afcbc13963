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
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stemscan.atomic import check_output_file
from stemscan.benchmarks import identification_store

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

_KEY = ("agent", "agent_kwargs", "scene", "env_kwargs", "seed")

#: Columns added after the first release: older files lack them until a writer opens them.
_ADDED_COLUMNS = ("run_id", "latency_ms_p90", "scene_digest")

_RUNS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS runs (\n    run_id INTEGER PRIMARY KEY,\n    "
    + ",\n    ".join(f"{name} {kind}" for name, kind in RUN_COLUMNS.items())
    + "\n)"
)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS episodes (\n    id INTEGER PRIMARY KEY,\n    "
    + ",\n    ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
    + f",\n    UNIQUE ({', '.join(_KEY)})\n)"
)


class ResultsStore:
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
                self._conn.execute(_RUNS_SCHEMA)
                self._conn.execute(_SCHEMA)
                present = self._columns()
                for name in _ADDED_COLUMNS:
                    if name not in present:
                        self._conn.execute(f"ALTER TABLE episodes ADD COLUMN {name} {COLUMNS[name]}")
                identification_store.create_table(self._conn)
        except sqlite3.Error as error:  # e.g. a read-only folder or mount, a full disk
            if self._conn is not None:
                self._conn.close()
            raise OSError(f"{self.path}: cannot write the results file ({error})") from error
        self._check_columns()

    # ------------------------------------------------ reading without writing
    def _connect_read_only(self) -> None:
        """Open ``self.path`` for reading so that nothing is created or changed beside it.

        A ``mode=ro`` connection to a WAL file creates ``-wal`` and ``-shm``
        files; when no ``-wal`` file exists (no writer has the file open, and
        every commit is in the main file) the file is opened ``immutable``
        instead, which creates nothing.  :meth:`_read` re-reads through a
        locking connection if the file changed meanwhile (a writer
        checkpointed into it).
        """
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._immutable = _is_wal_file(self.path) and not Path(f"{self.path}-wal").exists()
        self._signature = _signature(self.path)
        uri = f"{self.path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if self._immutable else "")
        try:
            self._conn = sqlite3.connect(uri, uri=True, timeout=self._timeout_s, isolation_level=None)
        except sqlite3.Error as error:
            raise ValueError(f"{self.path} could not be opened as a SQLite results file: {error}") from error

    def _changed(self) -> bool:
        """Whether the file changed under an ``immutable`` connection (its snapshot may be torn)."""
        return self._immutable and _signature(self.path) != self._signature

    def _read(self, table: str, read: Any) -> Any:
        """``read(conn)``; a SQLite failure becomes a ``ValueError`` naming the file (and ``table``).

        Under an ``immutable`` connection the read is repeated through a
        locking one when the file changed while it ran.
        """
        for attempt in range(3):
            try:
                result = read(self._conn)
            except (sqlite3.DatabaseError, ValueError) as error:
                if attempt < 2 and self._changed():
                    self._connect_read_only()
                    continue
                if isinstance(error, ValueError):
                    raise
                where = f": table {table!r}" if table else ""
                raise ValueError(f"{self.path}{where}: {error} (the file is damaged, or not a stemscan results file)") from error
            if attempt < 2 and self._changed():
                self._connect_read_only()
                continue
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _validate_existing(self) -> None:
        """Check an existing file before a writer changes anything: a SQLite file (intact: ``PRAGMA
        quick_check``) of stemscan's schema, or one without tables; else ``ValueError``."""

        def check(conn: sqlite3.Connection) -> None:
            try:
                problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            except sqlite3.DatabaseError as error:
                raise ValueError(f"{self.path} is not a SQLite results file: {error}") from error
            if problems != ["ok"]:
                shown = "; ".join(str(p) for p in problems[:3]) + ("; ..." if len(problems) > 3 else "")
                raise ValueError(f"{self.path} is damaged (SQLite integrity check: {shown}); refusing to write to it")
            self._check_schema(conn, writer=True)
            # values too, as readers check them: a file a leaderboard would refuse gets no rows added
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table, id_column, columns, json_columns in (("episodes", "id", COLUMNS, _EPISODE_JSON),
                                                            ("runs", "run_id", RUN_COLUMNS, _RUN_JSON)):
                if table in tables:
                    cursor = conn.execute(f"SELECT * FROM {table} ORDER BY {id_column}")
                    names = [d[0] for d in cursor.description]
                    rows = [dict(zip(names, values)) for values in cursor.fetchall()]
                    _check_values(self.path, table, id_column, rows, columns, json_columns)

        try:
            self._connect_read_only()
            self._read("", check)
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _check_schema(self, conn: sqlite3.Connection, writer: bool) -> None:
        """Tables, columns and references of a stemscan results file (``ValueError`` naming what is wrong).

        A writer accepts a file without tables (it creates them) and needs
        the unique reproduction key; a reader needs table ``episodes``.
        """
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as error:
            raise ValueError(f"{self.path} is not a SQLite results file: {error}") from error
        if writer and not tables:
            return
        if "episodes" not in tables:
            if writer:
                raise ValueError(
                    f"{self.path} is a SQLite file of something else (tables: {', '.join(sorted(tables))}); "
                    "refusing to add stemscan tables to it"
                )
            raise ValueError(f"{self.path} has no table 'episodes'; not a stemscan results file")
        present = _table_columns(conn, "episodes")
        missing = [name for name in COLUMNS if name not in present and name not in _ADDED_COLUMNS]
        if missing:
            raise ValueError(f"{self.path}: table 'episodes' lacks columns {missing}; not a stemscan results file of this version")
        if writer and not _has_unique_key(conn, "episodes", _KEY):
            raise ValueError(f"{self.path}: table 'episodes' has no UNIQUE ({', '.join(_KEY)}) key; not a stemscan results file")
        if "runs" in tables:
            missing = [name for name in ("run_id", *RUN_COLUMNS) if name not in _table_columns(conn, "runs")]
            if missing:
                raise ValueError(f"{self.path}: table 'runs' lacks columns {missing}; not a stemscan results file of this version")
        if "identifications" in tables:
            names = _table_columns(conn, "identifications")
            missing = [name for name in identification_store.IDENTIFICATION_COLUMNS if name not in names]
            if missing:
                raise ValueError(
                    f"{self.path}: table 'identifications' lacks columns {missing}; not a stemscan results file of this version"
                )
            if writer and not _has_unique_key(conn, "identifications", identification_store.KEY):
                raise ValueError(f"{self.path}: table 'identifications' has no UNIQUE ({', '.join(identification_store.KEY)}) key; "
                                 "not a stemscan results file")
        if writer:
            # a run this writer adds takes the next free run_id and would adopt rows that point past the last run
            self._check_references(conn, tables, adoptable_only=True)

    def check_references(self) -> None:
        """Raise ``ValueError`` naming the file, table and row if a row's ``run_id`` points to no row of table ``runs``.

        Such a file is damaged: the environment of that row is not "not
        recorded" (NULL) but lost.  Readers that report environments
        (``stemscan verify``, ``leaderboard``, ``submit``) call this.
        """

        def read(conn: sqlite3.Connection) -> None:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            self._check_references(conn, tables)

        self._read("", read)

    def _check_references(self, conn: sqlite3.Connection, tables: set[str], adoptable_only: bool = False) -> None:
        """See :meth:`check_references`; ``adoptable_only``: only ``run_id`` values above every stored run's."""
        last = 0
        if "runs" in tables and adoptable_only:
            last = conn.execute("SELECT COALESCE(MAX(run_id), 0) FROM runs").fetchone()[0]
        for table in ("episodes", "identifications"):
            if table not in tables or "run_id" not in _table_columns(conn, table):
                continue
            query = f"SELECT id, run_id FROM {table} WHERE run_id IS NOT NULL"
            if adoptable_only:
                query += f" AND run_id > {int(last)}"
            elif "runs" in tables:
                query += " AND run_id NOT IN (SELECT run_id FROM runs)"
            dangling = conn.execute(query + " LIMIT 1").fetchone()
            if dangling is not None:
                raise ValueError(
                    f"{self.path}: table {table!r}, row id {dangling[0]}: run_id {dangling[1]!r} points to no row of "
                    "table 'runs'; the file is damaged"
                )

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
            return _table_columns(self._conn, "episodes")
        except sqlite3.DatabaseError as error:
            self._conn.close()
            raise ValueError(f"{self.path} is not a SQLite results file: {error}") from error

    def _check_columns(self) -> None:
        present = self._columns()
        if not present:
            self._conn.close()
            raise ValueError(f"{self.path} has no table 'episodes'; not a stemscan results file")
        missing = [name for name in COLUMNS if name not in present and name not in _ADDED_COLUMNS]
        if missing:
            self._conn.close()
            raise ValueError(f"{self.path}: table 'episodes' lacks columns {missing}; not a stemscan results file of this version")

    def has_runs(self) -> bool:
        """Whether the file records runs (files from before fingerprints do not)."""

        def read(conn: sqlite3.Connection) -> bool:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return "runs" in tables and "run_id" in _table_columns(conn, "episodes")

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
            _check_values(self.path, "runs", "run_id", runs, RUN_COLUMNS, _RUN_JSON)
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
        return self._read("episodes", lambda conn: {tuple(row) for row in conn.execute(f"SELECT {', '.join(_KEY)} FROM episodes")})

    def insert(self, row: dict[str, Any]) -> bool:
        """Store one finished episode in its own transaction; False if its key was already stored."""
        if self.read_only:
            raise ValueError(f"{self.path} is open read-only")
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
        params = tuple(params)

        def read(conn: sqlite3.Connection) -> tuple[list[str], list[dict[str, Any]]]:
            cursor = conn.execute(query, params)
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, values)) for values in cursor.fetchall()]
            _check_values(self.path, "episodes", "id", rows, COLUMNS, _EPISODE_JSON)
            _check_episode_counts(self.path, rows)
            return names, rows

        names, rows = self._read("episodes", read)
        for name in _ADDED_COLUMNS:
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
            _check_values(self.path, "identifications", "id", rows, identification_store.IDENTIFICATION_COLUMNS,
                          _IDENTIFICATION_JSON)
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


def _is_wal_file(path: Path) -> bool:
    """Whether the SQLite header of ``path`` says WAL journaling (file format versions 2)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    return header[:16] == b"SQLite format 3\x00" and header[18:20] == b"\x02\x02"


def _signature(path: Path) -> tuple[int, ...] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _has_unique_key(conn: sqlite3.Connection, table: str, key: Sequence[str]) -> bool:
    """Whether ``table`` has a UNIQUE constraint on exactly the columns ``key``."""
    for index in conn.execute(f"PRAGMA index_list({table})").fetchall():
        name, unique = index[1], index[2]
        if unique and [row[2] for row in conn.execute(f"PRAGMA index_info({name!r})")] == list(key):
            return True
    return False


#: JSON columns and the type their value must parse to (None: any JSON value).
_EPISODE_JSON: dict[str, type | None] = {"agent_kwargs": dict, "agent_config": None, "env_kwargs": dict, "curve": list}
_RUN_JSON: dict[str, type | None] = {"fingerprint": dict}
_IDENTIFICATION_JSON: dict[str, type | None] = {"agent_kwargs": dict, "analyst_config": None, "env_kwargs": dict,
                                                "per_kind": dict, "curve": list}
_KINDS = {"REAL": ((int, float), "a number"), "INTEGER": ((int,), "an integer"), "TEXT": ((str,), "text")}


def _check_episode_counts(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Raise ``ValueError`` naming the row of an episode no run could have made: an empty scene or agent name,
    negative feature counts, more features found than there are, a negative dose or step count."""
    for row in rows:
        problem = None
        if "scene" in row and not row["scene"]:
            problem = "column 'scene' is empty"
        elif "agent" in row and not row["agent"]:
            problem = "column 'agent' is empty"
        elif "features_total" in row and not 0 <= row["features_found"] <= row["features_total"]:
            problem = f"features_found {row['features_found']!r} is not within 0..features_total {row['features_total']!r}"
        elif "steps" in row and row["steps"] < 0:
            problem = f"column 'steps' is negative ({row['steps']!r})"
        elif "dose_used" in row and not row["dose_used"] >= 0:
            problem = f"column 'dose_used' is negative or NaN ({row['dose_used']!r})"
        if problem:
            raise ValueError(f"{path}: table 'episodes', row id {row.get('id')!r}: {problem}; the file is damaged or was edited")


def _check_values(
    path: Path,
    table: str,
    id_column: str,
    rows: Sequence[dict[str, Any]],
    columns: dict[str, str],
    json_columns: dict[str, type | None],
) -> None:
    """Raise ``ValueError`` naming the file, table, row id and column of the first value of the wrong type
    (text where a number belongs, a NULL in a NOT NULL column, a JSON column that does not parse)."""
    if not rows:
        return
    checks = []
    for name, declared in columns.items():
        if name not in rows[0]:
            continue
        types, what = _KINDS[declared.split()[0]]
        checks.append((name, types, what, "NOT NULL" not in declared))
    for row in rows:
        for name, types, what, nullable in checks:
            value = row[name]
            if value is None:
                if nullable:
                    continue
                problem = "is NULL"
            elif isinstance(value, types) and not isinstance(value, bool):
                if name not in json_columns:
                    continue
                kind = json_columns[name]
                try:
                    parsed = json.loads(value)
                except ValueError as error:
                    problem = f"is not JSON ({error}): {_short(value)}"
                else:
                    if kind is None or isinstance(parsed, kind):
                        continue
                    problem = f"must be a JSON {'object' if kind is dict else 'array'}, got {_short(value)}"
            else:
                problem = f"must be {what}, got {_short(value)}"
            which = f"row id {row.get(id_column)!r}" if id_column == "id" else f"{id_column} {row.get(id_column)!r}"
            raise ValueError(f"{path}: table {table!r}, {which}, column {name!r} {problem}; the file is damaged or was edited")


def _short(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


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
