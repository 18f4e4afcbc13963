"""The characterisation track of an episode: its analysts' reports scored into result rows.

:func:`~stemscan.benchmarks.episode.play_episode` collects each analyst's
reports at the dose checkpoints; :func:`identification_rows` scores them
against the hidden scene (:mod:`stemscan.benchmarks.identification`) into
one row per analyst for table ``identifications`` of the results store:
precision, recall, F1 and localisation F1 at the end of the episode, the
dose-efficiency curve ``[[budget_fraction, f1, localisation_f1], ...]``
and its area DEC-AUC.  An unscored scene (a real image without labels)
gives no rows.
"""

from __future__ import annotations

import json
import time
from typing import Any

from stemscan.benchmarks import identification
from stemscan.benchmarks.spec import EpisodeSpec, canonical_json

__all__ = ["build_analysts", "identification_rows"]


def build_analysts(spec: EpisodeSpec, env: Any, navigator: Any, seed: int) -> dict[str, Any]:
    """The analysts ``spec`` asks for, built for ``env`` (``self`` wraps ``navigator``)."""
    from stemscan.agents import analysts

    return {name: analysts.make(name, env, navigator=navigator, seed=seed) for name in spec.analysts}


def identification_rows(spec: EpisodeSpec, played: Any, scene: Any, configs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per analyst of ``played`` (empty for an unscored scene).

    Args:
        spec: The episode.
        played: Its :class:`~stemscan.benchmarks.episode.PlayedEpisode` (with ``reports``).
        scene: The episode's hidden scene (evaluation only).
        configs: Each analyst's ``config()``.
    """
    if scene is None or not getattr(scene, "scored", True):
        return []
    rows = []
    for name, reports in played.reports.items():
        if not reports:
            continue
        curve, final = [], None
        for fraction, detections in reports:
            final = identification.score_scene(detections, scene)
            curve.append([float(fraction), final["f1"], final["localisation_f1"]])
        assert final is not None
        rows.append({
            "agent": spec.agent,
            "agent_kwargs": canonical_json(spec.agent_kwargs),
            "scene": spec.scene,
            "env_kwargs": canonical_json(spec.env_kwargs),
            "seed": int(spec.seed),
            "analyst": name,
            "analyst_config": _config_json(configs.get(name, {})),
            "dose_budget": float(played.budget_fraction),
            "detections": int(final["detections"]),
            "features_total": int(scene.n_features),
            "precision": final["precision"],
            "recall": final["recall"],
            "f1": final["f1"],
            "localisation_f1": final["localisation_f1"],
            "dec_auc": identification.dec_auc([(x, f) for x, f, _ in curve]),
            "localisation_dec_auc": identification.dec_auc([(x, f) for x, _, f in curve]),
            "per_kind": json.dumps(final["per_kind"], sort_keys=True, separators=(",", ":")),
            "curve": json.dumps(curve, separators=(",", ":")),
            "analyst_time_s": float(played.analyst_time_s.get(name, 0.0)),
            "finished_at": time.time(),
        })  # fmt: skip
    return rows


def _config_json(config: dict[str, Any]) -> str:
    try:
        return canonical_json(config)
    except ValueError:
        return canonical_json({"repr": repr(config)})
