"""Parameter checks of the scene families: re-exported from :mod:`stemscan.validation`."""

from __future__ import annotations

from stemscan.validation import check_choice, check_int, check_number

__all__ = ["check_choice", "check_int", "check_number"]
