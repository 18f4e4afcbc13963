"""Shared fixtures: small, fast env configurations."""

from __future__ import annotations

import pytest

import stemscan  # noqa: F401  (registers STEMScan-v0)

#: A small env (128 px field, 16 px patches; overview 64 so SB3 sees >= 36 px images).
SMALL = {"image_size": 128, "patch_size": 16, "overview_size": 64}


@pytest.fixture
def small_kwargs() -> dict:
    return dict(SMALL)
