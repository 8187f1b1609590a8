"""The pure monitoring core: the MMD permutation test, image statistics and the shadow disagreement."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from vision_assets.core.monitoring import disagreement_by_class, image_statistics, mmd_permutation_test
from vision_assets.core.monitoring.partition import Baseline


def samples(seed: int = 7, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(60, 16)), rng.normal(size=(40, 16)) + shift


def test_same_distribution_gives_a_large_p_value():
    test = mmd_permutation_test(*samples(), seed=1)

    assert test.p_value == pytest.approx(142 / 301)
    assert test.score == pytest.approx(0.0257942654760416)
    assert (test.reference_size, test.sample_size, test.permutations) == (60, 40, 300)


def test_a_shifted_sample_gives_the_smallest_p_value_the_permutations_allow():
    test = mmd_permutation_test(*samples(shift=0.75), seed=1)

    assert test.p_value == pytest.approx(1 / 301)
    assert test.score == pytest.approx(0.22897106618765725)


def test_the_seed_makes_the_p_value_repeatable_and_the_count_sets_its_resolution():
    reference, sample = samples()
    assert mmd_permutation_test(reference, sample, seed=4) == mmd_permutation_test(reference, sample, seed=4)
    shifted = mmd_permutation_test(reference, sample + 2.0, permutations=99, seed=4)
    assert shifted.p_value == pytest.approx(1 / 100)


def test_samples_of_different_width_are_refused_by_shape():
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(3, 5\)"):
        mmd_permutation_test(np.zeros((3, 4)), np.zeros((3, 5)))


def test_image_statistics_read_brightness_contrast_sharpness_and_colour(tmp_path):
    flat = np.full((40, 60, 3), (10, 20, 200), np.uint8)
    checker = np.kron((np.indices((8, 12)).sum(0) % 2) * 255, np.ones((5, 5))).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "flat.png"), flat)
    cv2.imwrite(str(tmp_path / "checker.png"), checker)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    paths = [str(tmp_path / n) for n in ("flat.png", "checker.png", "broken.png")]

    stats = image_statistics(paths).set_index("image_path")

    flat_row, checker_row = stats.loc[paths[0]], stats.loc[paths[1]]
    assert (flat_row["mean_blue"], flat_row["mean_green"], flat_row["mean_red"]) == (10, 20, 200)
    assert flat_row["contrast"] == 0 and flat_row["sharpness"] == 0
    assert checker_row["brightness"] == pytest.approx(127.5) and checker_row["contrast"] == pytest.approx(127.5)
    assert checker_row["sharpness"] > 1000
    assert not stats.loc[paths[2], "readable"] and np.isnan(stats.loc[paths[2], "brightness"])


def box(path, cls, x1, y1, x2, y2, score=0.9):
    return {"image_path": path, "class_name": cls, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "score": score}


def test_shadow_disagreement_counts_unmatched_boxes_and_class_changes_per_class():
    champion = pd.DataFrame([box("a", "car", 0, 0, 10, 10), box("a", "car", 20, 20, 30, 30),
                             box("b", "pedestrian", 0, 0, 10, 20)])
    challenger = pd.DataFrame([box("a", "car", 1, 1, 10, 10),  # IoU 0.81: agrees
                               box("a", "car", 50, 50, 60, 60),  # nothing of the champion's there
                               box("b", "cyclist", 0, 0, 10, 19)])  # same object, another class

    table = disagreement_by_class(champion, challenger, ["a", "b", "c"]).set_index("class_name")

    assert table.loc["car"].to_dict() == {"boxes": 4, "unmatched": 2, "class_changes": 0, "disagreement_rate": 0.5}
    assert table.loc["pedestrian"].to_dict() == {"boxes": 1, "unmatched": 0, "class_changes": 1,
                                                 "disagreement_rate": 1.0}
    assert table.loc["cyclist", "boxes"] == 1 and table.loc["cyclist", "unmatched"] == 0


def test_detection_band_widens_for_small_partitions_and_never_collapses():
    baseline = Baseline(np.zeros((4, 2)), np.array([2, 4, 2, 4]), 4, np.array(["a"] * 4))
    assert baseline.detection_band(1) == pytest.approx((0.0, 6.0))  # 3 * std 1 / sqrt(1) = 3
    assert baseline.detection_band(100) == pytest.approx((1.5, 4.5))  # half the rate
    assert Baseline(np.zeros((2, 2)), np.array([0, 0]), 2, np.array(["a", "a"])).detection_band(10) == pytest.approx((0.0, 0.1))


def test_a_known_scene_is_compared_with_its_own_training_frames_a_new_one_with_all():
    scenes = np.array(["a"] * 6 + ["b"] * 3)
    baseline = Baseline(np.arange(18.0).reshape(9, 2), np.arange(9), 9, scenes)

    own, reference = baseline.reference_for("a")
    assert reference == "a" and own.frames == 6 and own.per_frame_counts.tolist() == [0, 1, 2, 3, 4, 5]
    assert baseline.reference_for("b") == (baseline, "all scenes")  # too few of its own frames
    assert baseline.reference_for("new")[1] == "all scenes"


def test_drifting_partitions_of_the_current_champion_come_most_drifting_first():
    from vision_assets.core.monitoring.feedback import drifting_partitions

    rows = pd.DataFrame([
        {"scene": "a", "day": "1", "champion_version": "2", "drift_p_value": 0.004, "drift_score": 0.3},
        {"scene": "b", "day": "1", "champion_version": "2", "drift_p_value": 0.004, "drift_score": 0.9},
        {"scene": "c", "day": "1", "champion_version": "2", "drift_p_value": 0.2, "drift_score": 0.1},
        {"scene": "d", "day": "1", "champion_version": "1", "drift_p_value": 0.001, "drift_score": 2.0},  # old champion
        {"scene": "e", "day": "1", "champion_version": "2", "drift_p_value": float("nan"), "drift_score": 0.0},
    ])

    found = drifting_partitions(rows, "2")

    assert found[["scene", "day"]].values.tolist() == [["b", "1"], ["a", "1"]]
    assert drifting_partitions(rows.iloc[0:0], "2").empty
