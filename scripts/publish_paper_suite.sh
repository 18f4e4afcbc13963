#!/usr/bin/env bash
# Re-run the paper suite from scratch and publish it under benchmarks/results/.
#
#   bash scripts/publish_paper_suite.sh [WORKERS]      (default 2; run in the locked environment)
#
# The suite runs into a fresh file beside the published one, which is then
# replaced whole (journal mode DELETE, so readers on read-only mounts need no
# -wal/-shm files), and every leaderboard is written from it.  Check the
# result with `pytest -m slow tests/benchmarks/test_paper_suite_reproduces.py`.
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${1:-2}
results=benchmarks/results
fresh="$results/paper.sqlite.new"
rm -f "$fresh" "$fresh-wal" "$fresh-shm"
start=$(date +%s)
stemscan bench --suite paper --out "$fresh" --workers "$workers" --no-progress
echo "paper suite: $(( $(date +%s) - start )) s with $workers workers"
python3 - "$fresh" <<'PY'
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA journal_mode = DELETE")
conn.execute("VACUUM")
conn.close()
PY
mv "$fresh" "$results/paper.sqlite"
rm -f "$results/paper.sqlite-wal" "$results/paper.sqlite-shm"
stemscan leaderboard "$results/paper.sqlite" --format md -o "$results/leaderboard.md"
stemscan leaderboard "$results/paper.sqlite" --format csv -o "$results/leaderboard.csv"
for budget in 0.05 0.1; do
    stemscan leaderboard "$results/paper.sqlite" --format md --budget "$budget" -o "$results/leaderboard_budget_$budget.md"
done
stemscan leaderboard "$results/paper.sqlite" --format html -o "$results/leaderboard.html"
