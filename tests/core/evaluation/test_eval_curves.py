"""PR curves, F1-confidence, precision/recall at a confidence and the confusion matrix, on crafted boxes."""

from __future__ import annotations

import struct

import pandas as pd
import pytest

from vision_assets.core.evaluation.curves import (
    box_iou,
    confusion_matrix,
    f1_confidence,
    match_detections,
    pr_curves,
    precision_recall_at,
    render_confusion_matrix,
    render_f1_curve,
    render_pr_curves,
)

CLASSES = ["cat", "dog"]
GT = pd.DataFrame(
    [
        ("a", "cat", 0, 0, 10, 10),
        ("a", "cat", 20, 0, 30, 10),
        ("a", "dog", 0, 20, 10, 30),
        ("b", "dog", 0, 0, 10, 10),
    ],
    columns=["image_id", "class_name", "x1", "y1", "x2", "y2"],
)
DETS = pd.DataFrame(
    [
        ("a", "cat", 0, 0, 10, 10, 0.9),  # TP (first cat)
        ("a", "cat", 0, 0, 10, 10, 0.8),  # same box again: its GT is taken -> FP
        ("a", "cat", 20, 0, 30, 10, 0.6),  # TP (second cat)
        ("a", "dog", 50, 50, 60, 60, 0.7),  # on nothing -> FP
        ("a", "dog", 0, 20, 10, 30, 0.3),  # TP (dog)
        ("b", "cat", 0, 0, 10, 10, 0.5),  # right box, wrong class -> cat FP, dog missed
    ],
    columns=["image_id", "class_name", "x1", "y1", "x2", "y2", "score"],
)


@pytest.fixture
def matched():
    return match_detections(GT, DETS)


def test_box_iou():
    iou = box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]])
    assert iou.tolist() == [[1.0, pytest.approx(50 / 150), 0.0, 0.0]]


def test_matching_is_same_class_and_greedy_by_score(matched):
    assert matched["tp"].tolist() == [True, False, True, False, True, False]
    assert matched["gt_row"].tolist() == [0, -1, 1, -1, 2, -1]
    # A higher-scored detection keeps its GT even when a later one overlaps it better.
    gt = GT.iloc[:1]
    dets = pd.DataFrame([("a", "cat", 0, 0, 10, 10, 0.4), ("a", "cat", 0, 0, 10, 8, 0.9)], columns=DETS.columns)
    m = match_detections(gt, dets)
    assert m["tp"].tolist() == [False, True] and m["iou"].tolist() == [0.0, pytest.approx(0.8)]


def test_pr_curves(matched):
    curves = pr_curves(matched, GT, CLASSES)
    cat = curves[curves["class_name"] == "cat"]
    assert cat["score"].tolist() == [0.9, 0.8, 0.6, 0.5]
    assert cat["precision"].tolist() == pytest.approx([1.0, 0.5, 2 / 3, 0.5])
    assert cat["recall"].tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0])
    dog = curves[curves["class_name"] == "dog"]
    assert dog["score"].tolist() == [0.7, 0.3]
    assert dog["precision"].tolist() == pytest.approx([0.0, 0.5])
    assert dog["recall"].tolist() == pytest.approx([0.0, 0.5])


def test_precision_recall_at_a_confidence(matched):
    at = precision_recall_at(matched, GT, CLASSES, 0.5).set_index("class_name")
    assert at.loc["cat", ["tp", "fp", "fn"]].tolist() == [2, 2, 0]
    assert at.loc["cat", "precision"] == pytest.approx(0.5) and at.loc["cat", "recall"] == pytest.approx(1.0)
    assert at.loc["cat", "f1"] == pytest.approx(2 / 3)
    assert at.loc["dog", ["tp", "fp", "fn"]].tolist() == [0, 1, 2]
    assert at.loc["dog", "precision"] == 0.0 and at.loc["dog", "recall"] == 0.0 and at.loc["dog", "f1"] == 0.0


def test_f1_confidence_and_best_confidence(matched):
    curve, best_conf, best_f1 = f1_confidence(matched, GT, CLASSES)
    assert curve["confidence"].tolist() == [0.3, 0.5, 0.6, 0.7, 0.8, 0.9]
    # Hand-computed: cat F1 at each threshold, dog F1 (only 0.3 keeps the dog TP), mean of the two.
    assert curve["cat"].tolist() == pytest.approx([2 / 3, 2 / 3, 0.8, 0.5, 0.5, 2 / 3])
    assert curve["dog"].tolist() == pytest.approx([0.5, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert curve["f1"].tolist() == pytest.approx([7 / 12, 1 / 3, 0.4, 0.25, 0.25, 1 / 3])
    assert best_conf == 0.3 and best_f1 == pytest.approx(7 / 12)
    # Ties go to the highest confidence.
    _, tie_conf, _ = f1_confidence(matched, GT, CLASSES, confidences=[0.8, 0.7])
    assert tie_conf == 0.8


def test_confusion_matrix_background_row_and_column():
    m = confusion_matrix(GT, DETS, CLASSES, confidence=0.25)
    assert list(m.index) == ["cat", "dog", "background"] and list(m.columns) == ["cat", "dog", "background"]
    # rows = predicted, columns = true (Ultralytics' layout)
    assert m.loc["cat"].tolist() == [2, 1, 1]  # 2 right cats, 1 dog called cat, 1 duplicate cat on nothing
    assert m.loc["dog"].tolist() == [0, 1, 1]  # 1 right dog, 1 dog on nothing
    assert m.loc["background"].tolist() == [0, 0, 0]
    strict = confusion_matrix(GT, DETS, CLASSES, confidence=0.5)  # drops the 0.3 dog: its GT is missed
    assert strict.loc["dog"].tolist() == [0, 0, 1]
    assert strict.loc["background"].tolist() == [0, 1, 0]
    assert int(strict.to_numpy().sum()) == 4 + 5 - 3  # every GT and kept detection once; a matched pair is one cell


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_png_rendering(matched):
    curve, best, _ = f1_confidence(matched, GT, CLASSES)
    assert _png_size(render_pr_curves(pr_curves(matched, GT, CLASSES))) == (600, 500)
    assert _png_size(render_f1_curve(curve, best)) == (600, 500)
    width, height = _png_size(render_confusion_matrix(confusion_matrix(GT, DETS, CLASSES), normalize=True))
    assert width > 100 and height > 100
