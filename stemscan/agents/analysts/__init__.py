"""Analysts: what an agent *identified* from the observations, as :class:`Detections`.

The characterisation track pairs a navigator (where to scan) with an
analyst (what the scans show): ``peaks`` (classical), ``dcnn`` (the shipped
U-Net) or ``self`` (a navigator's own ``report()``, e.g. ``dcnn-bo``'s).
Importing this package imports no torch.
"""

from __future__ import annotations

from stemscan.agents.analysts.base import Analyst, PatchCanvas
from stemscan.agents.analysts.detections import Detections
from stemscan.agents.analysts.registry import SELF, SelfAnalyst, has_report, make, names

__all__ = ["SELF", "Analyst", "Detections", "PatchCanvas", "SelfAnalyst", "has_report", "make", "names"]
