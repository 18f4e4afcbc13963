"""Argument checks shared by every layer (``ValueError`` naming the argument).

The bottom of the dependency graph: it imports numpy only, so scenes, envs,
agents and benchmarks may all use it.  Each check returns the value
converted to its plain Python type, so callers write
``self.beta = check_number("beta", beta, 0, low_open=True)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = ["MAX_SEED", "MAX_SEEDS", "check_bool", "check_choice", "check_int", "check_number", "check_points", "check_positive", "check_seeds"]

#: Largest seed (a SQLite INTEGER; numpy ``SeedSequence`` entropy).
MAX_SEED = 2**63 - 1
#: Most seeds in one list or grid (pass ``max_seeds`` to :func:`check_seeds` to allow more).
MAX_SEEDS = 100_000

_T = TypeVar("_T")


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as float, or raise ``ValueError`` naming ``name``.

    Args:
        name: Parameter name used in the message.
        value: The value to check (a finite real number, not bool).
        low, high: Bounds (inclusive unless ``low_open``/``high_open``).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        raise ValueError(f"{name} must be finite, got an integer of {len(str(abs(int(value))))} digits") from None
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (number < low or (low_open and number == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (number > high or (high_open and number == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return number


def check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a float > 0, or raise ``ValueError`` naming ``name``."""
    return check_number(name, value, 0.0, low_open=True)


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as int (bounds inclusive), or raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    number = int(value)  # exact comparisons: no float rounding or overflow for huge integers
    if low is not None and number < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    if high is not None and number > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    return number


def check_points(name: str, value: Any) -> np.ndarray:
    """``value`` as a finite ``float64`` ``(N, 2)`` array of ``(row, col)`` positions (empty input: ``(0, 2)``)."""
    try:
        points = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be real (row, col) pairs: {error}") from error
    if points.size == 0:
        points = points.reshape(0, 2)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) (row, col), got {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError(f"{name} contain NaN or infinity")
    return points


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool (Python or numpy), or raise ``ValueError`` naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(name: str, value: _T, choices: Sequence[_T]) -> _T:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_seeds(seeds: int | str | Sequence[int], name: str = "seeds", max_seeds: int = MAX_SEEDS) -> list[int]:
    """Seeds from a count ``N`` (0..N-1), a list, or text ``"N"``, ``"3,5,8"``, ``"10-19"``.

    The size is checked before any list is built, so ``1000000000`` or
    ``"0-1000000000"`` is refused at once.

    Args:
        seeds: A count, a list of integers, or text.
        name: What to call them in a message.
        max_seeds: Most seeds accepted (default :data:`MAX_SEEDS`).

    Raises:
        ValueError: Empty, malformed, non-integer, negative, too large
            (> :data:`MAX_SEED`) or duplicate seeds, or more than ``max_seeds``.
    """
    usage = "a count N, a list '3,5,8' or a range '10-19'"
    if isinstance(seeds, bool):
        raise ValueError(f"{name} must be {usage}, got {seeds!r}")
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise ValueError(f"the number of {name} must be >= 1, got {seeds}")
        if seeds > max_seeds:
            raise ValueError(f"the number of {name} must be <= {max_seeds} (the maximum per grid), got {seeds}")
        return list(range(int(seeds)))
    if isinstance(seeds, str):
        text = seeds.strip()
        if not text:
            raise ValueError(f"{name} must not be empty: give {usage}")
        if "," in text:
            parts = text.split(",")
            if len(parts) > max_seeds:
                raise ValueError(f"more than {max_seeds} {name} (the maximum per grid) in {seeds[:40]!r}...")
            values: list[int] = []
            for part in parts:
                if not part.strip():
                    raise ValueError(f"{name} {seeds!r} has an empty entry")
                values.append(_seed_int(part, name, seeds))
        elif "-" in text.lstrip("-"):
            start_text, stop_text = text.split("-", 1)
            start, stop = _seed_int(start_text, name, seeds), _seed_int(stop_text, name, seeds)
            if stop < start:
                raise ValueError(f"{name} range {seeds!r} ends before it starts")
            if stop - start + 1 > max_seeds:
                raise ValueError(f"{name} range {seeds!r} holds {stop - start + 1} seeds; at most {max_seeds} per grid")
            values = list(range(start, stop + 1))
        else:
            return check_seeds(_seed_int(text, name, seeds), name, max_seeds)
        return check_seeds(values, name, max_seeds)
    try:
        count = len(seeds)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be {usage}, got {seeds!r}") from None
    if count == 0:
        raise ValueError(f"{name} must not be empty")
    if count > max_seeds:
        raise ValueError(f"{count} {name} given; at most {max_seeds} per grid")
    values = [check_int(name, value, 0, MAX_SEED) for value in seeds]
    if len(set(values)) != len(values):
        raise ValueError(f"{name} contain duplicates: {values[:20]}")
    return values


def _seed_int(part: str, name: str, whole: str) -> int:
    """One integer of a seeds text (``ValueError`` naming the whole text)."""
    part = part.strip()
    if not part or len(part) > 20:
        raise ValueError(f"{name} must be a count N, a list '3,5,8' or a range '10-19', got {whole!r}")
    try:
        return int(part)
    except ValueError:
        raise ValueError(f"{name} must be a count N, a list '3,5,8' or a range '10-19', got {whole!r}") from None
