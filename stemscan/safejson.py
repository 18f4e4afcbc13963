"""JSON and TOML-derived values with bounded nesting (no ``RecursionError``, no deep structures).

Everything stemscan reads as JSON from a user (``--agent-kwargs``,
``--env-kwargs``, bundle manifests) or as a table from a suite file goes
through :func:`loads` or :func:`check_depth`, so ``[[[[...]]]]`` nested
thousands deep gets a ``ValueError`` naming where it came from instead of a
``RecursionError`` from deep inside the parser, and nothing downstream
(canonical JSON, SQLite rows) walks a pathological structure.
"""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["MAX_DEPTH", "check_depth", "loads", "loads_toml"]

#: Deepest nesting of lists/objects accepted (a keyword table is 2-4 deep).
MAX_DEPTH = 32


def check_depth(value: Any, what: str, max_depth: int = MAX_DEPTH) -> Any:
    """Return ``value`` if its lists/dicts nest at most ``max_depth`` deep, else raise ``ValueError`` naming ``what``.

    Iterative (a stack, no recursion), so any depth is checked safely.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, (list, tuple)):
            children = list(item)
        else:
            continue
        if depth + 1 > max_depth:
            raise ValueError(f"{what} is nested more than {max_depth} levels deep")
        stack.extend((child, depth + 1) for child in children)
    return value


def _bracket_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting of JSON ``text`` (brackets inside strings ignored); linear, no recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def loads(text: str | bytes, what: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON ``text``; ``ValueError`` naming ``what`` if it is not JSON or nests deeper than ``max_depth``.

    The depth is checked on the text before parsing, so a deep document
    never reaches the (recursive) parser.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"{what} is not UTF-8 text: {error}") from None
    if _bracket_depth(text) > max_depth:
        raise ValueError(f"{what} is nested more than {max_depth} levels deep")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{what} is not valid JSON: {error}") from None
    except RecursionError:  # pragma: no cover - the depth check above comes first
        raise ValueError(f"{what} is nested too deeply") from None


def loads_toml(text: str, what: str, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """Parse TOML ``text``; ``ValueError`` naming ``what`` if it is not TOML or its tables/arrays nest deeper than ``max_depth``."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{what}: not valid TOML: {error}") from None
    except RecursionError:
        raise ValueError(f"{what}: nested too deeply") from None
    return check_depth(data, what, max_depth)
