"""The benchmark: run agents × scenes × seeds, store results, rank agents.

* :func:`evaluate` — the protocol for any object with ``predict`` (also
  ``stemscan.evaluate``), rows with the results store's columns;
* :func:`play_episode` — the one episode loop under it (and under
  :func:`run_episode`, ``bench`` and ``replay``);
* :func:`run_episode` — one episode of a zoo agent, returned as a result row (dict);
* :func:`run_grid` — many episodes into a SQLite results file, resumably,
  on local processes or Ray (:func:`expand_grid` / :func:`load_suite` build
  the grid);
* :func:`load_results` — the rows of a results file;
* :func:`leaderboard` — ranked tables (Markdown, CSV) per scene family.

Nothing here imports torch at import time (agents that need it import it).
"""

from __future__ import annotations

from stemscan.benchmarks.episode import TIMING_COLUMNS, PlayedEpisode, play_episode, run_episode
from stemscan.benchmarks.evaluate import evaluate
from stemscan.benchmarks.leaderboard import leaderboard
from stemscan.benchmarks.runner import RunSummary, run_grid
from stemscan.benchmarks.spec import EpisodeSpec, agent_seed, expand_grid
from stemscan.benchmarks.store import ResultsStore, load_results
from stemscan.benchmarks.suite import Suite, builtin_suites, load_suite

__all__ = [
    "EpisodeSpec",
    "PlayedEpisode",
    "ResultsStore",
    "RunSummary",
    "Suite",
    "TIMING_COLUMNS",
    "agent_seed",
    "builtin_suites",
    "evaluate",
    "expand_grid",
    "leaderboard",
    "load_results",
    "load_suite",
    "play_episode",
    "run_episode",
    "run_grid",
]
