#!/usr/bin/env bash
# Refresh the lock: resolve stemscan[dev]'s ranges (setup.cfg) afresh in a
# throw-away virtualenv and pin every installed distribution, transitively.
#
#   bash scripts/lock.sh            # writes requirements/lock-py<X.Y>.txt for this Python
#
# Run it on purpose only (new dependency versions move benchmark numbers):
# afterwards run `pytest tests/test_lock.py`, re-run the paper suite and
# re-publish it (README, "Reproducing the numbers").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
version=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
lock="requirements/lock-py$version.txt"
torch_version=${STEMSCAN_TORCH_VERSION:-2.13.0}
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
"$PY" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet "torch==$torch_version+cpu" \
    || "$venv/bin/python" -m pip install --quiet "torch==$torch_version" --index-url https://download.pytorch.org/whl/cpu
"$venv/bin/python" -m pip install --quiet ".[dev]"
{
    echo "# stemscan's locked environment for Python $version on Linux ($(date -u +%Y-%m-%d), scripts/lock.sh)."
    echo "# scripts/setup.sh installs with it as a pip constraints file; the published results were made under it."
    echo "# torch is pinned without its local label, so both the CPU (+cpu) and the CUDA build satisfy it."
    "$venv/bin/python" -m pip freeze --all --exclude-editable \
        | grep -viE '^(stemscan|pip|setuptools|wheel) ?(==|@)' \
        | sed -E 's/^(torch==[^+]+)\+.*/\1/' \
        | LC_ALL=C sort -f
} > "$lock.tmp"
mv "$lock.tmp" "$lock"
echo "wrote $lock ($(grep -vc '^#' "$lock") pinned distributions)"
