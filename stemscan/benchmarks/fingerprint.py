"""The environment fingerprint: what, besides the code and the seeds, decides a result's numbers.

Benchmark rows are bit-for-bit reproducible only where the same floating-point
operations run in the same order: the same versions of the numeric packages
(the lock that ``scripts/setup.sh`` installs), the same BLAS and thread
counts, and the same vector instruction set (a CPU with AVX-512 runs other
kernels than one with AVX2 only, and they round differently in the last
bits).  :func:`environment_fingerprint` records all of that for the process
that ran an episode; every results file stores it per run (table ``runs``)
and every row points to its run.

Two fingerprints with the same :func:`fingerprint_id` describe environments
in which the same code and seeds give the same rows.  The id covers the
package versions, Python, the BLAS libraries and their thread counts, the
vector instruction set torch dispatches to, the CPU model and flags, and the
environment variables that change kernels; it leaves out the code version
(stored beside it: the package version and git commit) and paths.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "KERNEL_ENV",
    "NUMERIC_PACKAGES",
    "compare_fingerprints",
    "environment_fingerprint",
    "numeric_differences",
    "fingerprint_id",
    "git_commit",
    "summary",
]

#: Distributions whose versions decide the numbers of an episode.
NUMERIC_PACKAGES = (
    "numpy",
    "scipy",
    "torch",
    "botorch",
    "gpytorch",
    "linear_operator",
    "scikit-learn",
    "scikit-image",
    "numba",
    "llvmlite",
    "gymnasium",
    "stable-baselines3",
    "safetensors",
)

#: Environment variables that change which kernels run (set ones are recorded).
KERNEL_ENV = (
    "ATEN_CPU_CAPABILITY",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_CBWR",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "NPY_DISABLE_CPU_FEATURES",
    "NUMBA_CPU_NAME",
    "NUMBA_CPU_FEATURES",
)

#: CPU flags that select vector kernels (the rest are recorded only through the flags hash).
_VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_fp16", "amx_tile", "neon", "asimd", "sve")

#: Fingerprint keys that are not part of the id (they name the code or the place, not the numerics).
_NOT_IN_ID = ("stemscan_version", "git_commit", "git_dirty", "platform")

#: Libraries loaded before the fingerprint is taken, so that it lists the same BLAS and OpenMP pools in every process.
_NUMERIC_MODULES = ("numpy", "scipy.linalg", "torch", "sklearn.utils")


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git checkout the ``stemscan`` package was imported from, or ``(None, None)``.

    ``dirty`` is True when tracked files of that checkout differ from the
    commit (an installed wheel, or no git, gives ``(None, None)``).
    """
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None, None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return (commit or None), bool(status.strip())


def _cpu() -> dict[str, Any]:
    model, flags = platform.processor() or platform.machine(), []
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model in ("", platform.machine(), platform.processor()):
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = sorted(set(value.split()))
    return {
        "model": model,
        "machine": platform.machine(),
        "vector_flags": [f for f in _VECTOR_FLAGS if f in flags],
        "flags_sha256": hashlib.sha256(" ".join(flags).encode()).hexdigest()[:16] if flags else None,
    }


def _blas() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("user_api", "internal_api", "prefix", "version", "threading_layer", "architecture", "num_threads")
    pools = [{k: pool.get(k) for k in keep} for pool in threadpool_info()]
    return sorted(pools, key=lambda p: json.dumps(p, sort_keys=True, default=str))


def _torch() -> dict[str, Any] | None:
    torch = sys.modules.get("torch")
    if torch is None:  # not installed
        return None
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # older torch
        capability = None
    return {"version": torch.__version__, "cpu_capability": capability, "num_threads": torch.get_num_threads()}


def _collect() -> dict[str, Any]:
    import importlib
    import importlib.util

    import stemscan

    for name in _NUMERIC_MODULES:
        if importlib.util.find_spec(name.split(".")[0]) is not None:
            importlib.import_module(name)

    commit, dirty = git_commit()
    return {
        "stemscan_version": stemscan.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in NUMERIC_PACKAGES},
        "torch": _torch(),
        "blas": _blas(),
        "cpu": _cpu(),
        "kernel_env": {name: os.environ[name] for name in KERNEL_ENV if name in os.environ},
    }


@functools.lru_cache(maxsize=1)
def _cached() -> str:
    return json.dumps(_collect(), sort_keys=True)


def environment_fingerprint() -> dict[str, Any]:
    """This process's fingerprint (computed once per process; it imports numpy, SciPy, torch and scikit-learn).

    Keys: ``stemscan_version``, ``git_commit``, ``git_dirty``, ``python``,
    ``python_implementation``, ``platform``, ``packages``
    (:data:`NUMERIC_PACKAGES` -> version or None), ``torch`` (version, the
    vector instruction set it dispatches to, threads; None without torch), ``blas`` (threadpoolctl's view of every BLAS/OpenMP library
    loaded: library, version, architecture, threads), ``cpu`` (model,
    vector flags, a hash of all flags), ``kernel_env`` (set variables of
    :data:`KERNEL_ENV`), and ``id`` (:func:`fingerprint_id`).
    """
    fingerprint = json.loads(_cached())
    fingerprint["id"] = fingerprint_id(fingerprint)
    return fingerprint


def fingerprint_id(fingerprint: dict[str, Any]) -> str:
    """16 hex digits identifying the numerics of a fingerprint.

    Left out: the code version, the platform string (kernel release) and
    thread counts (every decision and every benchmark worker runs on one
    thread, so the driver's own thread count must not split a run).
    """
    core = {k: v for k, v in fingerprint.items() if k not in _NOT_IN_ID and k != "id"}
    core["blas"] = [{k: v for k, v in pool.items() if k != "num_threads"} for pool in core.get("blas") or []]
    if core.get("torch"):
        core["torch"] = {k: v for k, v in core["torch"].items() if k != "num_threads"}
    return hashlib.sha256(json.dumps(core, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return {f"{prefix}[{i}]": json.dumps(v, sort_keys=True) for i, v in enumerate(value)}
    return {prefix: value}


def compare_fingerprints(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, value in a, value in b)`` for every entry that differs (dotted keys, e.g. ``packages.scipy``)."""
    fa, fb = _flatten(a), _flatten(b)
    return [(k, fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if k != "id" and fa.get(k) != fb.get(k)]


def numeric_differences(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """:func:`compare_fingerprints` without the entries that do not decide numbers (code version, platform, threads)."""
    return [
        (key, x, y)
        for key, x, y in compare_fingerprints(a, b)
        if not key.startswith(_NOT_IN_ID) and "num_threads" not in key
    ]


def summary(fingerprint: dict[str, Any]) -> str:
    """One line: id, Python, the key package versions, torch's vector ISA, the CPU model."""
    packages = fingerprint.get("packages") or {}
    names = ("numpy", "scipy", "torch", "botorch", "gpytorch", "scikit-learn", "numba")
    versions = ", ".join(f"{n} {packages.get(n)}" for n in names if packages.get(n))
    isa = (fingerprint.get("torch") or {}).get("cpu_capability")
    cpu = (fingerprint.get("cpu") or {}).get("model")
    return f"{fingerprint.get('id', fingerprint_id(fingerprint))}: Python {fingerprint.get('python')}; {versions}; torch ISA {isa}; CPU {cpu}"
