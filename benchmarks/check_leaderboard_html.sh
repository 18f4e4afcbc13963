#!/usr/bin/env bash
# Render the smoke suite's HTML leaderboard and screenshot it in headless Chromium.
#   bash benchmarks/check_leaderboard_html.sh [OUT_DIR]     (needs Debian's `chromium`)
# Writes OUT_DIR/smoke.sqlite, OUT_DIR/leaderboard.html and OUT_DIR/leaderboard.png; look at the PNG.
set -euo pipefail
out=${1:-/tmp/stemscan-leaderboard-check}
py=${PYTHON:-python3}
mkdir -p "$out"
"$py" -m stemscan.cli bench --suite smoke --out "$out/smoke.sqlite" --no-progress
"$py" -m stemscan.cli leaderboard "$out/smoke.sqlite" --format html -o "$out/leaderboard.html"
if grep -Eq '(src|href)="(https?:)?//' "$out/leaderboard.html"; then
    echo "leaderboard.html references external resources" >&2; exit 1
fi
command -v chromium >/dev/null || { echo "chromium not found: apt-get install -y chromium" >&2; exit 1; }
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --screenshot="$out/leaderboard.png" --window-size=1280,2000 "file://$out/leaderboard.html" 2>/dev/null
test -s "$out/leaderboard.png"
echo "screenshot: $out/leaderboard.png"
