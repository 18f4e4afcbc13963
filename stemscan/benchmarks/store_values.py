"""Value checks of rows read from a results file, and the SQLite form of a row's values.

Each check names the file, table, row and column of the first value a run
could not have written (:mod:`stemscan.benchmarks.store`'s readers and its
writer's check of an existing file call them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "check_episode_counts", "check_values", "sql_value"]

KINDS = {"REAL": ((int, float), "a number"), "INTEGER": ((int,), "an integer"), "TEXT": ((str,), "text")}


def check_episode_counts(path: Path, rows: Sequence[dict[str, Any]]) -> None:
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


def check_values(
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
        types, what = KINDS[declared.split()[0]]
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


def sql_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value
