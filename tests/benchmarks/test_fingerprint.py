"""The environment fingerprint: what it records and what its id depends on."""

from __future__ import annotations

import copy

from stemscan.benchmarks.fingerprint import (
    NUMERIC_PACKAGES,
    compare_fingerprints,
    environment_fingerprint,
    fingerprint_id,
    summary,
)


def test_records_the_packages_that_decide_numbers():
    fingerprint = environment_fingerprint()
    assert set(fingerprint["packages"]) == set(NUMERIC_PACKAGES)
    for name in ("numpy", "scipy", "torch", "botorch", "gpytorch", "linear_operator", "scikit-learn", "numba"):
        assert fingerprint["packages"][name], f"{name} version not recorded"
    assert fingerprint["python"].count(".") == 2
    assert fingerprint["cpu"]["model"]
    assert any(pool["user_api"] == "blas" for pool in fingerprint["blas"])
    assert fingerprint["torch"]["cpu_capability"]
    assert fingerprint["id"] == fingerprint_id(fingerprint) and len(fingerprint["id"]) == 16
    assert environment_fingerprint() == fingerprint  # cached, stable


def test_id_ignores_code_version_and_threads_but_not_numerics():
    base = environment_fingerprint()
    same = copy.deepcopy(base)
    same.update(git_commit="0" * 40, git_dirty=True, stemscan_version="9.9", platform="elsewhere")
    for pool in same["blas"]:
        pool["num_threads"] = 7
    same["torch"]["num_threads"] = 7
    assert fingerprint_id(same) == fingerprint_id(base)
    for change in (("packages", "scipy", "0.0.1"), ("torch", "cpu_capability", "AVX2"), ("cpu", "model", "Other CPU")):
        other = copy.deepcopy(base)
        other[change[0]][change[1]] = change[2]
        assert fingerprint_id(other) != fingerprint_id(base), change
    other = copy.deepcopy(base)
    other["kernel_env"] = {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    assert fingerprint_id(other) != fingerprint_id(base)


def test_compare_names_the_differing_keys():
    base = environment_fingerprint()
    other = copy.deepcopy(base)
    other["packages"]["scipy"] = "0.0.1"
    other["cpu"]["model"] = "Other CPU"
    keys = [key for key, _, _ in compare_fingerprints(base, other)]
    assert keys == ["cpu.model", "packages.scipy"]
    assert compare_fingerprints(base, base) == []
    assert base["id"] in summary(base) and "scipy" in summary(base)
