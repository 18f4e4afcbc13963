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

__all__ = ["check_bool", "check_choice", "check_int", "check_number", "check_positive"]

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
    number = float(value)
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
    check_number(name, value, low, high)
    return int(value)


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
