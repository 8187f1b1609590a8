"""Error classification: one crafted case of each kind, with its boxes, score and IoU."""

from __future__ import annotations

import pandas as pd
import pytest
from evaluation_helpers import CRAFTED_DETS, CRAFTED_GT

from vision_assets.core.evaluation.errors import ERROR_COLUMNS, classify_errors, error_counts

GT, DETS = CRAFTED_GT, CRAFTED_DETS


def _by_kind(errors):
    assert errors["kind"].is_unique
    return errors.set_index("kind")


def test_one_error_of_each_kind():
    errors = classify_errors(GT, DETS)
    assert list(errors.columns) == ERROR_COLUMNS
    assert errors["kind"].tolist() == ["duplicate", "class_confusion", "localisation", "false_positive", "false_negative"]
    assert error_counts(errors) == {"false_negative": 1, "false_positive": 1, "localisation": 1, "class_confusion": 1,
                                    "duplicate": 1}  # fmt: skip
    e = _by_kind(errors)
    assert (e["image_id"] == "i1").all()

    dup = e.loc["duplicate"]
    assert (dup["class_name"], dup["gt_class_name"], dup["score"]) == ("cat", "cat", 0.8)
    assert dup["iou"] == pytest.approx(0.9)
    assert dup[["det_x1", "det_y1", "det_x2", "det_y2"]].tolist() == [0, 0, 100, 90]
    assert dup[["gt_x1", "gt_y1", "gt_x2", "gt_y2"]].tolist() == [0, 0, 100, 100]

    conf = e.loc["class_confusion"]
    assert (conf["class_name"], conf["gt_class_name"], conf["score"], conf["iou"]) == ("cat", "dog", 0.7, 1.0)
    assert conf[["gt_x1", "gt_y1", "gt_x2", "gt_y2"]].tolist() == [200, 0, 300, 100]

    loc = e.loc["localisation"]
    assert (loc["class_name"], loc["gt_class_name"], loc["score"]) == ("cat", "cat", 0.6)
    assert loc["iou"] == pytest.approx(0.4)
    assert loc[["det_x1", "det_y1", "det_x2", "det_y2"]].tolist() == [0, 200, 100, 240]
    assert loc[["gt_x1", "gt_y1", "gt_x2", "gt_y2"]].tolist() == [0, 200, 100, 300]

    fp = e.loc["false_positive"]
    assert (fp["class_name"], fp["score"], fp["iou"]) == ("dog", 0.5, 0.0)
    assert pd.isna(fp["gt_class_name"]) and fp[["gt_x1", "gt_y1", "gt_x2", "gt_y2"]].isna().all()

    fn = e.loc["false_negative"]
    assert (fn["class_name"], fn["gt_class_name"], fn["iou"]) == ("dog", "dog", 0.0)
    assert pd.isna(fn["score"]) and fn[["det_x1", "det_y1", "det_x2", "det_y2"]].isna().all()
    assert fn[["gt_x1", "gt_y1", "gt_x2", "gt_y2"]].tolist() == [400, 400, 500, 500]


def test_a_barely_overlapping_box_is_a_false_positive_not_a_localisation_error():
    gt = GT.iloc[[0]]
    dets = pd.DataFrame([("i1", "cat", 95, 0, 195, 100, 0.9)], columns=DETS.columns)  # IoU 500/19500
    errors = classify_errors(gt, dets)
    assert errors["kind"].tolist() == ["false_positive", "false_negative"]
    assert errors["iou"].tolist() == pytest.approx([500 / 19500, 500 / 19500])


def test_score_threshold_drops_low_detections_and_their_explanations():
    errors = classify_errors(GT, DETS, score_threshold=0.65)
    # d4 (0.6) and d5 (0.5) are gone: no localisation or false positive; the badly boxed cat is now a miss.
    assert error_counts(errors) == {"false_negative": 2, "false_positive": 0, "localisation": 0,
                                    "class_confusion": 1, "duplicate": 1}  # fmt: skip


def test_no_detections_every_ground_truth_is_missed_and_no_ground_truth_every_detection_is_false():
    assert error_counts(classify_errors(GT, pd.DataFrame()))["false_negative"] == 4
    only_fp = classify_errors(GT.iloc[:0], DETS)
    assert only_fp["kind"].tolist() == ["false_positive"] * 5
    assert only_fp["score"].tolist() == [0.9, 0.8, 0.7, 0.6, 0.5]
