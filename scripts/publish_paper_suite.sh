#!/usr/bin/env bash
# Re-run the paper suite from scratch and publish it under benchmarks/results/
# (paper.sqlite and the leaderboard*.md/.csv/.html files).
#
#   bash scripts/publish_paper_suite.sh [WORKERS]      (default 2; run in the locked environment)
#
# Check the result with `pytest -m slow tests/benchmarks/test_paper_suite_reproduces.py`.
# The characterisation track: `bash scripts/publish_suite.sh characterisation [WORKERS]`.
set -euo pipefail
exec bash "$(dirname "$0")/publish_suite.sh" paper "${1:-2}" leaderboard
