"""``argparse`` types shared by every ``stemscan`` command: finite, in range, named in the error.

Each function (or factory) here is passed as ``type=`` to
``add_argument``; a bad value raises :class:`argparse.ArgumentTypeError`,
which argparse turns into one line naming the option, e.g.::

    stemscan bench: error: argument --workers: must be an integer >= 1, got '0'

and exit status 2, before any work starts.  ``nan``, ``inf`` and values
that overflow are refused by every float type.

Limits (README, *Command-line limits and errors*):

* :data:`MAX_SEED` — an episode seed is an integer in ``0 .. 2**63 - 1``
  (stored as a SQLite INTEGER);
* :data:`MAX_SEEDS` — 100 000 seeds per grid, checked by
  :func:`stemscan.validation.check_seeds` before any list is built (the
  parser of seeds for the CLI, suite files and
  :func:`~stemscan.benchmarks.spec.expand_grid` alike).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from stemscan import safejson
from stemscan.validation import MAX_SEED, MAX_SEEDS, check_seeds

__all__ = [
    "MAX_SEED",
    "MAX_SEEDS",
    "finite_float",
    "float_in",
    "int_in",
    "json_object",
    "nonnegative_int",
    "positive_float",
    "positive_int",
    "seed",
    "seed_list",
]


def _int(text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(str(text).strip())
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def int_in(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """A type: an integer in ``[low, high]`` (either bound may be ``None``)."""

    def parse(text: str) -> int:
        value = _int(text)
        if (low is not None and value < low) or (high is not None and value > high):
            if high is None:
                raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
            if low is None:
                raise argparse.ArgumentTypeError(f"must be an integer <= {high}, got {text!r}")
            raise argparse.ArgumentTypeError(f"must be an integer in {low}..{high}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def float_in(
    low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
) -> Callable[[str], float]:
    """A type: a finite float in the interval (closed unless ``low_open``/``high_open``)."""
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    interval = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"

    def parse(text: str) -> float:
        value = _float(text)
        bad_low = low is not None and (value < low or (low_open and value == low))
        bad_high = high is not None and (value > high or (high_open and value == high))
        if bad_low or bad_high:
            raise argparse.ArgumentTypeError(f"must be a number in {interval}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


#: An integer >= 1.
positive_int = int_in(1)
#: An integer >= 0.
nonnegative_int = int_in(0)
#: A finite float.
finite_float = float_in()
#: A finite float > 0.
positive_float = float_in(0.0, low_open=True)
#: An episode/scene seed, 0 .. MAX_SEED.
seed = int_in(0, MAX_SEED)


def seed_list(text: str) -> list[int]:
    """A type: seeds as a count ``N`` (0..N-1), a list ``3,5,8`` or a range ``10-19``.

    Empty text, malformed ranges, negative or duplicate seeds, and more
    than :data:`MAX_SEEDS` seeds are refused
    (before any list is built).
    """
    try:
        return check_seeds(str(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def json_object(text: str) -> dict[str, Any]:
    """A type: a JSON object (nesting at most :data:`stemscan.safejson.MAX_DEPTH` deep)."""
    try:
        value = safejson.loads(text, "the value")
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object {{...}}, got {text!r}")
    return value
