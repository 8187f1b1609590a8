"""Slices on a crafted test split whose every number is known by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from vision_assets.core.evaluation.slices import SLICE_COLUMNS, slice_records, slice_table

CLASSES = ["car", "ped"]


def crafted():
    # a, b: scene n on day d1; c, d: scene s on day d2. Lighting crosses them, so it is confounded with nothing.
    images = pd.DataFrame({"image_id": ["a", "b", "c", "d"], "width": 200, "height": 200,
                           "scene": ["n", "n", "s", "s"], "day": ["d1", "d1", "d2", "d2"],
                           "lighting": ["day", "night", "day", "night"], "weather": ["", "", "", ""]})
    # small (20x20) car on a and ped on c, large (120x120) car on b, medium (50x50) car and ped on d.
    gt = pd.DataFrame({"image_id": ["a", "b", "c", "d", "d"], "class_name": ["car", "car", "ped", "car", "ped"],
                       "x1": [0, 0, 0, 0, 100.0], "y1": [0, 0, 0, 0, 100.0], "x2": [20, 120, 20, 50, 150.0],
                       "y2": [20, 120, 20, 50, 150.0], "occluded": [True, False, False, False, True]})
    # Exact detections of the three cars; both pedestrians are missed.
    dt = gt.drop(columns="occluded").iloc[[0, 1, 3]].assign(score=0.9)
    return images, gt, dt


def rows_by_slice(table: pd.DataFrame) -> dict:
    return {(r["dimension"], r["value"]): r for r in slice_records(table)}


def test_every_slice_has_its_hand_computed_counts_and_metrics():
    images, gt, dt = crafted()
    table = slice_table(gt, dt, images=images, class_names=CLASSES, min_boxes=2)
    assert list(table.columns) == SLICE_COLUMNS
    rows = rows_by_slice(table)
    expected = {  # (n_images, n_boxes, precision, recall)
        ("all", "all"): (4, 5, 1.0, 3 / 5),
        ("scene", "n"): (2, 2, 1.0, 1.0), ("scene", "s"): (2, 3, 1.0, 1 / 3),
        ("day", "d1"): (2, 2, 1.0, 1.0), ("day", "d2"): (2, 3, 1.0, 1 / 3),
        ("lighting", "day"): (2, 2, 1.0, 1 / 2), ("lighting", "night"): (2, 3, 1.0, 2 / 3),
        ("weather", "unknown"): (4, 5, 1.0, 3 / 5),
        ("size", "small"): (2, 2, 1.0, 1 / 2), ("size", "medium"): (1, 2, 1.0, 1 / 2),
        ("size", "large"): (1, 1, 1.0, 1.0),
        ("class", "car"): (3, 3, 1.0, 1.0), ("class", "ped"): (2, 2, 0.0, 0.0),
        # the other boxes are ignore regions: the car found on d neither helps nor hurts the occluded slice
        ("occlusion", "occluded"): (2, 2, 1.0, 1 / 2), ("occlusion", "visible"): (3, 3, 1.0, 2 / 3),
    }  # fmt: skip
    assert set(rows) == set(expected)
    for key, (n_images, n_boxes, precision, recall) in expected.items():
        row = rows[key]
        assert (row["n_images"], row["n_boxes"]) == (n_images, n_boxes), key
        assert row["precision"] == pytest.approx(precision), key
        assert row["recall"] == pytest.approx(recall), key
    # Perfect detections score AP 1, a class never detected 0; a slice averages the classes it has.
    assert rows[("scene", "n")]["map50_95"] == pytest.approx(1.0)
    assert rows[("scene", "s")]["map50_95"] == pytest.approx(0.5)
    assert rows[("class", "car")]["map50_95"] == pytest.approx(1.0)
    assert rows[("class", "ped")]["map50_95"] == pytest.approx(0.0)
    assert rows[("size", "large")]["map75"] == pytest.approx(1.0)


def test_too_few_marks_slices_under_the_minimum_box_count():
    images, gt, dt = crafted()
    rows = rows_by_slice(slice_table(gt, dt, images=images, class_names=CLASSES, min_boxes=3))
    assert {k for k, r in rows.items() if r["too_few"]} == {
        ("scene", "n"), ("day", "d1"), ("lighting", "day"), ("size", "small"), ("size", "medium"),
        ("size", "large"), ("class", "ped"), ("occlusion", "occluded")}


def test_slices_of_different_dimensions_with_the_same_images_are_marked_confounded():
    images, gt, dt = crafted()
    images["device"] = ["cam-1", "cam-1", "cam-2", "cam-2"]  # a sidecar field that follows the scene exactly
    rows = rows_by_slice(slice_table(gt, dt, images=images, class_names=CLASSES))
    assert rows[("scene", "n")]["confounded_with"] == ["day=d1", "device=cam-1"]
    assert rows[("day", "d2")]["confounded_with"] == ["device=cam-2", "scene=s"]
    assert rows[("lighting", "day")]["confounded_with"] == []
    # box slices share images by design: never confounded
    assert rows[("class", "car")]["confounded_with"] == []


def test_no_occlusion_column_means_no_occlusion_slices():
    images, gt, dt = crafted()
    rows = rows_by_slice(slice_table(gt.drop(columns="occluded"), dt, images=images, class_names=CLASSES))
    assert not any(d == "occlusion" for d, _ in rows)
