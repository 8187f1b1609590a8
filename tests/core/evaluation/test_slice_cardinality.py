"""A free-text image field (a note typed into a sidecar) is not a slice: too long, or too many distinct values."""

from __future__ import annotations

import pandas as pd

from vision_assets.core.evaluation.slices import MAX_SLICE_VALUES, slice_dimensions, slice_table

CLASSES = ["car"]


def test_long_or_many_valued_fields_are_not_slices_and_say_why():
    n = MAX_SLICE_VALUES + 10
    ids = [f"i{k}" for k in range(n)]
    images = pd.DataFrame({"image_id": ids, "width": 100, "height": 100,
                           "scene": [f"s{k}" for k in range(n)],  # a partition key: a slice however many
                           "lighting": ["day", "night"] * (n // 2),
                           "note": ["x" * 5_000_000] + [""] * (n - 1),  # one huge sidecar text
                           "operator_comment": [f"looked fine at {k}" for k in range(n)]})
    gt = pd.DataFrame({"image_id": ids, "class_name": "car", "x1": 10.0, "y1": 10.0, "x2": 60.0, "y2": 60.0})
    detections = gt.assign(score=0.9)

    kept, skipped = slice_dimensions(images)
    assert kept == ["scene", "lighting"]
    assert skipped["note"].startswith("a value of 5,000,000 characters")
    assert skipped["operator_comment"].startswith(f"{n} distinct values")

    table = slice_table(gt, detections, images=images, class_names=CLASSES)
    assert set(table["dimension"]) == {"all", "scene", "lighting", "size", "class"}
    assert table["value"].str.len().max() < 100
    assert set(table.attrs["not_sliced"]) == {"note", "operator_comment"}
