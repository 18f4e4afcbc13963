#!/usr/bin/env bash
# Re-run a built-in suite from scratch and publish it under benchmarks/results/.
#
#   bash scripts/publish_suite.sh SUITE [WORKERS] [PREFIX]   (default 2 workers; run in the locked environment)
#
# The suite runs into a fresh file beside the published one (SUITE.sqlite),
# which is then replaced whole (journal mode DELETE, so readers on read-only
# mounts need no -wal/-shm files), and every leaderboard is written from it
# as PREFIX.md / .csv / .html and PREFIX_budget_B.md (PREFIX defaults to
# SUITE).  scripts/publish_paper_suite.sh is this for the paper suite.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:?usage: publish_suite.sh SUITE [WORKERS] [PREFIX]}
workers=${2:-2}
prefix=${3:-$suite}
results=benchmarks/results
published="$results/$suite.sqlite"
fresh="$published.new"
rm -f "$fresh" "$fresh-wal" "$fresh-shm"
start=$(date +%s)
stemscan bench --suite "$suite" --out "$fresh" --workers "$workers" --no-progress
echo "$suite suite: $(( $(date +%s) - start )) s with $workers workers"
python3 - "$fresh" <<'PY'
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA journal_mode = DELETE")
conn.execute("VACUUM")
conn.close()
PY
mv "$fresh" "$published"
rm -f "$published-wal" "$published-shm"
stemscan leaderboard "$published" --format md -o "$results/$prefix.md"
stemscan leaderboard "$published" --format csv -o "$results/$prefix.csv"
budgets=$(python3 -c "from stemscan.benchmarks.suite import load_suite; print(' '.join(map(str, load_suite('$suite').budgets)))")
for budget in $budgets; do
    stemscan leaderboard "$published" --format md --budget "$budget" -o "$results/${prefix}_budget_$budget.md"
done
stemscan leaderboard "$published" --format html -o "$results/$prefix.html"
