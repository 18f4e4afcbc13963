"""Identification scoring: hand-computed matches, tolerances, kinds, duplicates, DEC-AUC."""

from __future__ import annotations

import numpy as np
import pytest

from stemscan.agents.analysts import Detections
from stemscan.benchmarks.identification import dec_auc, distance_matrix, match, score_scene, tolerance_px
from stemscan.scenes.base import Feature, Scene


def _scene() -> Scene:
    """20×20 field at 0.5 Å/px: a vacancy (id 1) at (5, 5) and an interface (id 2) along column 15, rows 0-19."""
    labels = np.zeros((20, 20), dtype=np.int32)
    labels[4:7, 4:7] = 1
    labels[:, 15] = 2
    features = [Feature(1, "vacancy", (5.0, 5.0)), Feature(2, "interface", (9.5, 15.0))]
    return Scene(np.zeros((20, 20), np.float32), labels, features, pixel_size=0.5, family="phase-separated")


def test_tolerance_converts_angstrom_to_pixels():
    assert tolerance_px("phase-separated", 0.5) == pytest.approx(10.0)  # 5 Å / 0.5 Å/px
    assert tolerance_px("lattice-defects", 0.2) == pytest.approx(5.0)  # 1 Å / 0.2 Å/px
    with pytest.raises(ValueError, match="pixel_size"):
        tolerance_px("lattice-defects", 0.0)


def test_extended_feature_distance_is_to_its_nearest_pixel():
    scene = _scene()
    d = distance_matrix(np.array([[0.0, 12.0], [8.0, 5.0]]), np.array([[5.0, 5.0], [9.5, 15.0]]),
                        ["vacancy", "interface"], scene.labels)
    # (0, 12): 3 px from the interface's pixel (0, 15), though 9.8 px from its centroid; 8.6 px from the vacancy
    assert d[0, 1] == pytest.approx(3.0)
    assert d[0, 0] == pytest.approx(np.hypot(5, 7))
    assert d[1, 0] == pytest.approx(3.0)  # point feature: centroid distance
    assert d[1, 1] == pytest.approx(10.0)


def test_tolerance_edge_is_inclusive():
    d = np.array([[2.0], [2.0000001]])
    assert match(d[:1], 2.0).true_positives == 1
    assert match(d[1:], 2.0).true_positives == 0


def test_hand_computed_match_with_kinds_and_duplicates():
    # truth: A (vacancy), B (dopant); detections: two near A (a duplicate), one near B with the wrong kind
    distances = np.array([[1.0, 9.0], [1.5, 9.0], [9.0, 0.5]])
    kinds = ["vacancy", "vacancy", "vacancy"]
    truth = ["vacancy", "dopant"]
    aware = match(distances, 2.0, kinds, truth)
    assert aware.pairs == [(0, 0)]  # the closer of the duplicates; B cannot match a 'vacancy' detection
    assert (aware.true_positives, aware.false_positives, aware.false_negatives) == (1, 2, 1)
    assert aware.precision == pytest.approx(1 / 3) and aware.recall == pytest.approx(1 / 2)
    assert aware.f1 == pytest.approx(2 * 1 / (2 * 1 + 2 + 1))
    assert aware.per_kind["vacancy"] == {"tp": 1, "fp": 2, "fn": 0, "precision": 1 / 3, "recall": 1.0, "f1": 0.5}
    assert aware.per_kind["dopant"]["fn"] == 1 and aware.per_kind["dopant"]["f1"] == 0.0
    located = match(distances, 2.0)  # kinds ignored: the third detection finds B
    assert sorted(located.pairs) == [(0, 0), (2, 1)]
    assert located.f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 0))


def test_assignment_maximises_matches_over_greedy():
    # greedy nearest-first would pair detection 0 with feature 0 (0.5) and leave detection 1 unmatched
    distances = np.array([[0.5, 1.0], [1.0, 5.0]])
    result = match(distances, 2.0)
    assert sorted(result.pairs) == [(0, 1), (1, 0)]


def test_empty_cases():
    assert match(np.zeros((0, 0)), 1.0).f1 == 1.0  # nothing to find, nothing claimed
    nothing_claimed = match(np.zeros((0, 3)), 1.0)
    assert (nothing_claimed.precision, nothing_claimed.recall, nothing_claimed.f1) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="tolerance"):
        match(np.zeros((1, 1)), float("nan"))


def test_score_scene_end_to_end():
    scene = _scene()
    detections = Detections([[5.0, 6.0], [2.0, 14.0], [18.0, 2.0]], ["vacancy", "interface", "dopant"], [0.9, 0.8, 0.1])
    scores = score_scene(detections, scene)
    assert (scores["precision"], scores["recall"]) == (pytest.approx(2 / 3), 1.0)
    assert scores["f1"] == pytest.approx(0.8)
    # a kind claimed but absent: precision, recall and F1 all 0 (recall is not vacuously 1)
    assert scores["per_kind"]["dopant"] == {"tp": 0, "fp": 1, "fn": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_unscored_scene_is_refused():
    scene = _scene()
    scene.scored = False
    with pytest.raises(ValueError, match="unscored"):
        score_scene(Detections.empty(), scene)


def test_dec_auc_of_a_known_curve():
    # F1 0 until 0.2, 0.5 on [0.2, 0.6), 1 on [0.6, 1]: area 0.4 * 0.5 + 0.4 * 1 = 0.6
    assert dec_auc([(0.2, 0.5), (0.6, 1.0)]) == pytest.approx(0.6)
    assert dec_auc([(0.0, 1.0)]) == pytest.approx(1.0)
    assert dec_auc([]) == 0.0
    assert dec_auc([(0.5, 1.0), (1.2, 1.0)]) == pytest.approx(0.5)  # beyond the budget is clipped


def test_detections_validate():
    with pytest.raises(ValueError, match="shape"):
        Detections(np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="NaN"):
        Detections([[np.nan, 0.0]], ["a"])
    with pytest.raises(ValueError, match="kinds"):
        Detections([[0.0, 0.0]], ["a", "b"])
    with pytest.raises(ValueError, match="confidence"):
        Detections([[0.0, 0.0]], ["a"], [1.5])
    with pytest.raises(ValueError, match="outside"):
        Detections([[30.0, 0.0]], ["a"], [1.0], shape=(20, 20))
    both = Detections.concatenate([Detections([[1.0, 2.0]], ["a"]), Detections([[3.0, 4.0]], ["b"], [0.5])])
    assert len(both) == 2 and list(both.kinds) == ["a", "b"] and len(both.of_kind("b")) == 1
    with pytest.raises(ValueError):
        both.positions[0, 0] = 7.0  # read-only


def test_unscored_scene_gives_no_identification_rows():
    from stemscan.benchmarks.characterise import identification_rows
    from stemscan.benchmarks.episode import PlayedEpisode
    from stemscan.benchmarks.spec import EpisodeSpec

    played = PlayedEpisode(info={}, budget_fraction=0.1, reports={"peaks": [(1.0, Detections([[5.0, 5.0]], ["vacancy"]))]})
    spec = EpisodeSpec("raster", "phase-separated", 0, analysts=("peaks",))
    scene = _scene()
    (row,) = identification_rows(spec, played, scene, {"peaks": {}})
    assert (row["analyst"], row["f1"], row["dec_auc"]) == ("peaks", pytest.approx(2 / 3), 0.0)  # reported only at the end
    scene.scored = False
    assert identification_rows(spec, played, scene, {"peaks": {}}) == []
