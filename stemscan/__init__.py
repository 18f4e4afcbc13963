"""stemscan: automated experimentation in scanning transmission electron microscopy.

``import stemscan`` registers the Gymnasium id ``STEMScan-v0`` (idempotent);
``gymnasium.make("stemscan:STEMScan-v0")`` imports it for you.
:func:`evaluate` runs the benchmark protocol for any object with ``predict``
(imported on first use, with the benchmark); so are the subpackages
``stemscan.scenes``, ``stemscan.agents``, ``stemscan.envs`` and
``stemscan.benchmarks`` (``stemscan.scenes.load(path)`` works after a plain
``import stemscan``).
"""

from __future__ import annotations

import sys

__version__ = "0.1.0"


def _is_the_command() -> bool:
    """Whether this process is the ``stemscan`` console script (by its ``argv[0]``), not a library user."""
    name = (sys.argv[0] if sys.argv and isinstance(sys.argv[0], str) else "").replace("\\", "/").rsplit("/", 1)[-1]
    for ending in ("-script.pyw", "-script.py", ".exe"):
        name = name.removesuffix(ending)
    return name == "stemscan"


def _exit_interrupted() -> NoReturn:
    """Ctrl-C while the ``stemscan`` command starts: one line on stderr and exit status 130, not a traceback."""
    print("stemscan: interrupted", file=sys.stderr)
    raise SystemExit(130) from None


try:  # Ctrl-C during these imports (a few hundred ms) must not print a traceback from the `stemscan` command
    from typing import Any, NoReturn

    from stemscan.envs.registration import register_envs

    register_envs()
except KeyboardInterrupt:
    if not _is_the_command():
        raise  # a library user gets the KeyboardInterrupt back
    _exit_interrupted()

__all__ = ["__version__", "evaluate", "register_envs"]

#: Subpackages reachable as attributes after ``import stemscan`` (imported on first use, so the import stays fast).
_SUBPACKAGES = frozenset({"agents", "benchmarks", "envs", "scenes"})


def __getattr__(name: str) -> Any:
    if name == "evaluate":
        from stemscan.benchmarks.evaluate import evaluate

        return evaluate
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")  # binds the attribute too: later lookups skip this
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "evaluate", *_SUBPACKAGES})
