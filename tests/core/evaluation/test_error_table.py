"""The evaluation's error table: one crafted case of each kind, identity errors where motmetrics counts them,
crops and the worst-of-each-kind selection."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from evaluation_helpers import CRAFTED_DETS, CRAFTED_GT

from vision_assets.core.evaluation.error_table import (
    TABLE_COLUMNS,
    caption,
    crop_overlay,
    detection_error_rows,
    identity_error_rows,
    worst,
)
from vision_assets.core.evaluation.tracking import evaluate_sequences, evaluate_tracking, identity_errors

GT = CRAFTED_GT
DETS = pd.concat([CRAFTED_DETS, pd.DataFrame(
    [("i1", "dog", 600, 0, 650, 50, 0.2)],  # below the operating confidence: not an error at all
    columns=CRAFTED_DETS.columns)], ignore_index=True)
IMAGES = pd.DataFrame({"image_id": ["i1"], "video_sha256": ["v" * 64], "frame_index": [7], "scene": ["cam-a"],
                       "lighting": ["night"], "image_key": ["blobs/frames/ab/ab.jpg"], "width": [700],
                       "height": [700]})


def test_detection_errors_one_of_each_kind_with_their_context():
    rows = detection_error_rows(GT, DETS, IMAGES, confidence=0.25)
    assert list(rows.columns) == TABLE_COLUMNS
    assert rows["kind"].tolist() == ["dup", "cls", "loc", "fp", "fn"]
    e = rows.set_index("kind")
    assert e.loc["cls", "class_name"] == "cat" and e.loc["cls", "gt_class_name"] == "dog"
    assert e.loc["loc", "iou"] == pytest.approx(0.4)
    assert e.loc["dup", "iou"] == pytest.approx(0.9)
    assert e.loc["fp", "score"] == 0.5 and np.isnan(e.loc["fp", "gt_x1"])
    assert np.isnan(e.loc["fn", "score"]) and e.loc["fn", "gt_class_name"] == "dog"
    assert (rows["frame_index"] == 7).all() and (rows["scene"] == "cam-a").all()
    assert (rows["image_key"] == "blobs/frames/ab/ab.jpg").all()
    # detection errors are as bad as they are confident; a miss as big as its box is against the image
    assert e.loc["fp", "severity"] == 0.5
    assert e.loc["fn", "severity"] == pytest.approx(np.hypot(100, 100) / np.hypot(700, 700))
    assert caption(e.loc["cls"].to_dict() | {"kind": "cls"}) == \
        "wrong class, scene cam-a, class cat (is dog), score 0.70, IoU 1.00"


def crafted_tracks():
    """One object on frames 0-5; the tracker has it as #1 on 0, 1 and 3, loses it on 2 and calls it #2 on 4, 5."""
    gt = pd.DataFrame({"frame": range(6), "track_id": 5, "x1": 10.0, "y1": 10.0, "x2": 50.0, "y2": 50.0})
    pred = gt.assign(track_id=[1, 1, -1, 1, 2, 2])
    return gt, pred[pred["track_id"] >= 0]


def test_identity_errors_are_motmetrics_switches_and_fragmentations():
    gt, pred = crafted_tracks()
    events = identity_errors(gt, pred)
    assert events[["kind", "frame", "gt_track_id", "track_id", "previous_track_id"]].values.tolist() == [
        ["frag", 2, 5, -1, 1], ["idsw", 4, 5, 2, 1]]
    assert events.loc[events["kind"] == "idsw", "iou"].item() == pytest.approx(1.0)
    metrics = evaluate_tracking(gt, pred)
    assert (metrics["num_switches"], metrics["num_fragmentations"]) == (1, 1)

    rows = identity_error_rows(events, video_sha256="v" * 64, scene="cam-a", lighting="day", image_diagonal=100.0)
    assert rows["kind"].tolist() == ["frag", "idsw"]
    assert rows["frame_index"].tolist() == [2, 4]
    assert caption(rows.iloc[1].to_dict()) == "ID switch, scene cam-a, frame 4, gt track 5: #1 -> #2, IoU 1.00"
    assert caption(rows.iloc[0].to_dict()).startswith("track fragmented, scene cam-a, frame 2, gt track 5: #1 -> lost")


def test_sequences_taken_together_add_up_their_counts():
    gt, pred = crafted_tracks()
    one = evaluate_tracking(gt, pred)
    both = evaluate_sequences([(gt, pred), (gt, pred)])
    assert both["num_switches"] == 2 * one["num_switches"]
    assert both["num_objects"] == 12 and both["num_unique_objects"] == 2
    assert both["mota"] == pytest.approx(one["mota"]) and both["idf1"] == pytest.approx(one["idf1"])
    assert both["hota"] == pytest.approx(one["hota"])


def test_worst_picks_the_most_severe_of_each_kind_in_kind_order():
    rows = detection_error_rows(GT, DETS, IMAGES, confidence=0.0)  # now the 0.2 detection is a second fp
    top = worst(rows, per_kind=1)
    assert top["kind"].tolist() == ["fn", "fp", "loc", "cls", "dup"]
    assert top.set_index("kind").loc["fp", "score"] == 0.5
    assert worst(rows, per_kind=5, kind="fp")["score"].tolist() == [0.5, 0.2]
    assert worst(rows, per_kind=5, class_name="dog")["kind"].tolist() == ["fn", "fp", "fp", "cls"]
    with pytest.raises(ValueError, match="unknown error kind"):
        worst(rows, kind="nope")


def test_crop_overlay_draws_both_boxes_on_an_enlarged_crop():
    image = np.full((700, 700, 3), 40, np.uint8)
    row = detection_error_rows(GT, DETS, IMAGES, confidence=0.25).set_index("kind").loc["loc"].to_dict()
    crop = cv2.imdecode(np.frombuffer(crop_overlay(image, row), np.uint8), cv2.IMREAD_COLOR)
    assert max(crop.shape[:2]) == 256
    green = (crop[:, :, 1] > 150) & (crop[:, :, 2] < 100)
    red = (crop[:, :, 2] > 150) & (crop[:, :, 1] < 100)
    assert green.any() and red.any()
