#!/usr/bin/env bash
# One-command set-up: installs PyTorch (CPU build on a machine without an
# NVIDIA GPU) and then stemscan in editable mode with its test tools.
#
#   bash scripts/setup.sh            # into the active python (use a virtualenv)
#   PYTHON=/path/to/python bash scripts/setup.sh
#
# A torch that is already installed is kept, so a GPU user who installed the
# CUDA build of their choice first (see README) keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_VERSION=${STEMSCAN_TORCH_VERSION:-2.13.0}

if "$PY" -c "import torch" 2>/dev/null; then
    echo "setup: keeping the installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found, installing the default (CUDA) torch==$TORCH_VERSION"
    "$PY" -m pip install "torch==$TORCH_VERSION"
else
    echo "setup: no GPU, installing the CPU build of torch==$TORCH_VERSION"
    # A local wheel or mirror first; the PyTorch CPU index only if that fails.
    "$PY" -m pip install "torch==$TORCH_VERSION+cpu" \
        || "$PY" -m pip install "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
fi
"$PY" -m pip install -e ".[dev]"
