#!/usr/bin/env bash
# One-command set-up: the locked environment the published results were made
# in, then stemscan in editable mode with its test tools.
#
#   bash scripts/setup.sh            # into the active python (use a virtualenv)
#   PYTHON=/path/to/python bash scripts/setup.sh
#
# Every dependency is pinned, transitively, by requirements/lock-py<X.Y>.txt
# (used as a pip constraints file; refresh it with scripts/lock.sh).  PyTorch
# comes first: the CPU build on a machine without an NVIDIA GPU, the default
# (CUDA) build with one.  A torch that is already installed is kept, so a GPU
# user who installed the CUDA build of their choice first keeps it; if its
# version is not the locked one, the rest is still locked and the script says
# that results may differ from the published ones in the last bits.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
version=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
lock="requirements/lock-py$version.txt"
constraints=()
if [ -f "$lock" ]; then
    constraints=(-c "$lock")
    TORCH_VERSION=$(sed -n 's/^torch==//p' "$lock")
else
    echo "setup: no lock for Python $version (locks: $(ls requirements/lock-py*.txt | xargs -n1 basename | tr '\n' ' '))" >&2
    echo "setup: installing from setup.cfg's version ranges; benchmark numbers may differ from the published ones" >&2
    TORCH_VERSION=2.13.0
fi
TORCH_VERSION=${STEMSCAN_TORCH_VERSION:-$TORCH_VERSION}

if installed=$("$PY" -c "import torch; print(torch.__version__)" 2>/dev/null); then
    echo "setup: keeping the installed torch $installed"
    if [ ${#constraints[@]} -gt 0 ] && [ "${installed%%+*}" != "$TORCH_VERSION" ]; then
        echo "setup: the lock has torch $TORCH_VERSION; results may differ from the published ones in the last bits" >&2
        unlocked=$(mktemp)
        trap 'rm -f "$unlocked"' EXIT
        grep -v '^torch==' "$lock" > "$unlocked"
        constraints=(-c "$unlocked")
    fi
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found, installing the default (CUDA) torch==$TORCH_VERSION"
    "$PY" -m pip install "torch==$TORCH_VERSION"
else
    echo "setup: no GPU, installing the CPU build of torch==$TORCH_VERSION"
    # A local wheel or mirror first; the PyTorch CPU index only if that fails.
    "$PY" -m pip install "torch==$TORCH_VERSION+cpu" \
        || "$PY" -m pip install "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
fi
"$PY" -m pip install "${constraints[@]}" -e ".[dev]"
