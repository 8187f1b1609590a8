"""Online false-alarm and miss rates: the counts against pycocotools' own matching, which frames count as labelled,
and when the rates ask for a retrain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from online_helpers import pycocotools_counts

from vision_assets.core.lake import Lake, keys
from vision_assets.core.monitoring.online import (
    breach_id,
    breached_partitions,
    labelled_frames,
    online_breaches,
    online_rates,
)

CLASSES = ["car", "pedestrian", "cyclist"]


def scene_boxes(seed: int, images: int = 25):
    """Labels per image, and detections near some of them (jittered, some with another class, some twice) plus
    boxes where nothing is, each with a score."""
    rng = np.random.default_rng(seed)
    labels, detections = [], []
    for _ in range(images):
        truth = []
        for _ in range(rng.integers(0, 6)):
            x, y, w, h = rng.uniform(0, 200), rng.uniform(0, 150), rng.uniform(8, 60), rng.uniform(8, 60)
            truth.append((CLASSES[rng.integers(0, 3)], x, y, x + w, y + h))
        found = []
        for name, x1, y1, x2, y2 in truth:
            if rng.random() < 0.7:
                jitter = rng.normal(0, 0.12 * (x2 - x1), 4)
                cls = name if rng.random() < 0.85 else CLASSES[(CLASSES.index(name) + 1) % 3]
                found.append((cls, x1 + jitter[0], y1 + jitter[1], x2 + jitter[2], y2 + jitter[3], rng.random()))
                if rng.random() < 0.2:  # a second box on the same object: at most one of them is right
                    found.append((cls, x1 + 2, y1 + 1, x2 + 1, y2 - 2, rng.random()))
        for _ in range(rng.integers(0, 3)):
            x, y = rng.uniform(0, 200), rng.uniform(0, 150)
            found.append((CLASSES[rng.integers(0, 3)], x, y, x + 30, y + 30, rng.random()))
        labels.append(truth)
        detections.append(found)
    return labels, detections


def as_tables(labels, detections):
    gt = pd.DataFrame([(f"img{i}", *box) for i, boxes in enumerate(labels) for box in boxes],
                      columns=["image_id", "class_name", "x1", "y1", "x2", "y2"])
    dt = pd.DataFrame([(f"img{i}", *box) for i, boxes in enumerate(detections) for box in boxes],
                      columns=["image_id", "class_name", "x1", "y1", "x2", "y2", "score"])
    return gt, dt


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_counts_match_pycocotools_per_class_and_overall(seed):
    labels, detections = scene_boxes(seed)
    rates = online_rates(*as_tables(labels, detections), frames=len(labels))
    expected = pycocotools_counts(labels, detections, CLASSES, max_det=100)

    tp, fp, fn = (expected["all"][k] for k in ("tp", "fp", "fn"))
    assert (rates["online_tp"], rates["online_fp"], rates["online_fn"]) == (tp, fp, fn)
    assert tp > 0 and fp > 0 and fn > 0
    assert rates["online_precision"] == pytest.approx(tp / (tp + fp)) == 1 - rates["online_false_alarm_rate"]
    assert rates["online_recall"] == pytest.approx(tp / (tp + fn)) == 1 - rates["online_miss_rate"]
    assert rates["online_frames"] == 25
    by_class = {row["class_name"]: (row["tp"], row["fp"], row["fn"]) for row in rates["online_by_class"]}
    assert by_class == {c: (v["tp"], v["fp"], v["fn"]) for c, v in expected.items() if c != "all"}


def test_without_detections_precision_is_undefined_and_every_label_a_miss():
    labels, _ = scene_boxes(3)
    gt, dt = as_tables(labels, [[] for _ in labels])
    rates = online_rates(gt, dt, frames=len(labels))
    assert rates["online_precision"] != rates["online_precision"]  # NaN: nothing was said, nothing was wrong
    assert (rates["online_recall"], rates["online_fn"], rates["online_tp"]) == (0.0, len(gt), 0)


def _partition(lake: Lake, passed: bool = True) -> dict:
    """Three videos: v1 labelled (frame 2 lost a box to QC, frame 3 only a duplicate), v2 never labelled, v3 labelled
    but in the model's own dataset."""
    part = {"scene": "cam", "day": "2026-01-02"}
    frames = pd.DataFrame([(v, f, f"blobs/frames/{v}-{f}.jpg") for v in ("v1", "v2", "v3") for f in range(5)],
                          columns=["video_sha256", "frame_index", "image_path"])
    kept = pd.DataFrame([("v1", 0, "car", 1.0, 1.0, 9.0, 9.0, "ann"), ("v1", 0, "car", 1.0, 1.0, 9.0, 9.0, "bob"),
                         ("v1", 3, "pedestrian", 2.0, 2.0, 5.0, 8.0, "ann"), ("v3", 1, "car", 0.0, 0.0, 4.0, 4.0, "ann")],
                        columns=["video_sha256", "frame_index", "class_name", "x1", "y1", "x2", "y2", "annotator"])
    rejected = pd.DataFrame([("v1", 2, "unknown_class"), ("v1", 3, "duplicate_box")],
                            columns=["video_sha256", "frame_index", "reasons"])
    lake.write_table(keys.SAMPLED_FRAMES, frames, part)
    lake.write_table(keys.QC_ANNOTATIONS, kept, part)
    lake.write_table(keys.QC_REJECTED, rejected, part)
    lake.write_table(keys.QC_SUMMARY, pd.DataFrame([{"label_version": "abc", "passed": passed}]), part)
    return part


def test_labelled_frames_are_those_training_would_take_outside_the_models_own_videos(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    _partition(lake)
    found = labelled_frames(lake, "cam", "2026-01-02", exclude_videos={"v3"})

    assert found.label_version == "abc"
    assert list(zip(found.frames["video_sha256"], found.frames["frame_index"])) == [("v1", 0), ("v1", 1), ("v1", 3),
                                                                                    ("v1", 4)]
    # One annotator's boxes on a double-labelled frame; frame 1 and 4 count as labelled and empty.
    assert found.ground_truth[["image_id", "class_name"]].values.tolist() == [
        ["blobs/frames/v1-0.jpg", "car"], ["blobs/frames/v1-3.jpg", "pedestrian"]]


def test_a_partition_whose_qc_failed_or_that_has_no_labels_gives_no_online_frames(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    _partition(lake, passed=False)
    assert labelled_frames(lake, "cam", "2026-01-02", exclude_videos=set()) is None
    assert labelled_frames(lake, "other", "2026-01-02", exclude_videos=set()) is None
    _partition(lake)
    assert labelled_frames(lake, "cam", "2026-01-02", exclude_videos={"v1", "v3"}) is None


def row(scene, precision, recall, detections=40, boxes=40, version="3"):
    return {"scene": scene, "day": "2026-01-02", "champion_version": version, "online_precision": precision,
            "online_recall": recall, "online_detections": detections, "online_labelled_boxes": boxes,
            "online_label_version": "0123456789abcdef"}


def test_a_rate_below_its_floor_on_enough_boxes_is_a_breach():
    floors = dict(min_precision=0.6, min_recall=0.5, min_boxes=10)
    assert online_breaches(row("a", 0.8, 0.7), **floors) == []
    assert online_breaches(row("a", 0.55, 0.2), **floors) == [
        "online precision 0.550 < 0.6 (40 detections)", "online recall 0.200 < 0.5 (40 labelled boxes)"]
    assert online_breaches(row("a", 0.1, 0.1, detections=9, boxes=9), **floors) == []  # too few boxes to judge
    assert online_breaches(row("a", float("nan"), 0.0), **floors) == ["online recall 0.000 < 0.5 (40 labelled boxes)"]


def test_breached_partitions_are_the_current_champions_worst_first():
    table = pd.DataFrame([row("a", 0.4, 0.9), row("b", 0.9, 0.9), row("c", float("nan"), 0.1),
                          row("d", 0.1, 0.1, version="2")])
    found = breached_partitions(table, "3", min_precision=0.5, min_recall=0.5, min_boxes=10)
    assert [b["scene"] for b in found] == ["c", "a"]
    assert breach_id(found[0]) == "c|2026-01-02|v3|0123456789ab"
    assert breached_partitions(table.drop(columns=["online_precision"]), "3", min_precision=0.5, min_recall=0.5,
                               min_boxes=10) == []
