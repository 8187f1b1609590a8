"""Detection metrics: reproduce pycocotools on third-party files, and exact values on crafted tables."""

import json
import math

import pandas as pd
import pytest
from helpers import MATERIAL

from vision_assets.core.evaluation import (
    DetectionMetrics,
    evaluate_by_slice,
    evaluate_detections,
    load_coco_files,
    per_class_ap,
)

SHAPES = MATERIAL / "coco" / "shapes"

# pycocotools 2.0.11 on the same files (MANIFEST.md).
REFERENCE_STATS = [
    0.6947194719471946, 0.6947194719471946, 0.6947194719471946, -1.0, 0.7920792079207921, 0.0,
    0.6666666666666666, 0.75, 0.75, -1.0, 0.7916666666666666, 0.0,
]  # fmt: skip

CLASSES = ["car", "person"]
# 101 recall points; reaching recall r with precision 1 covers the points 0, 0.01, ..., floor(100 r)/100.
AP_AT_TWO_THIRDS = 67 / 101


def images(*ids, **slices):
    df = pd.DataFrame({"image_id": list(ids), "width": 100, "height": 100})
    return df.assign(**slices)


def gt(*rows):
    return pd.DataFrame(rows, columns=["image_id", "class_name", "x1", "y1", "x2", "y2"])


def dets(*rows):
    return pd.DataFrame(rows, columns=["image_id", "class_name", "x1", "y1", "x2", "y2", "score"])


@pytest.fixture(scope="module")
def shapes():
    return load_coco_files(SHAPES / "gt_dataset.json", SHAPES / "dt_dataset.json")


# --- reference -------------------------------------------------------------------------------------


def test_reproduces_pycocotools_reference_stats(shapes):
    gt_df, dt_df, images_df, class_names = shapes
    m = evaluate_detections(gt_df, dt_df, images=images_df, class_names=class_names)
    assert m.stats == pytest.approx(REFERENCE_STATS, abs=1e-9)
    assert (m.map50_95, m.map50, m.map75) == pytest.approx(REFERENCE_STATS[:3], abs=1e-9)
    assert (m.n_images, m.n_ground_truth, m.n_detections) == (3, 9, 9)
    # 6 of 9 detections hit a same-class box at IoU >= 0.5; 6 of 9 GT boxes are found.
    assert m.precision == pytest.approx(6 / 9)
    assert m.recall == pytest.approx(6 / 9)


def test_load_coco_files_keeps_file_ids_and_category_order(shapes):
    gt_df, dt_df, images_df, class_names = shapes
    assert class_names == ["cloud", "heart", "arrow", "star"]
    # file_name is not in id order in this file: the id is what identifies the image.
    assert images_df["image_id"].tolist() == ["1", "2", "3"]
    assert images_df["file_name"].tolist() == ["img_3.jpg", "img_1.jpg", "img_2.jpg"]
    # GT keeps the file's polygon area, not the box area: it decides the APm/APl buckets.
    first = json.loads((SHAPES / "gt_dataset.json").read_text())["annotations"][0]
    assert gt_df.loc[0, "area"] == first["area"] != (gt_df.loc[0, "x2"] - gt_df.loc[0, "x1"]) * (
        gt_df.loc[0, "y2"] - gt_df.loc[0, "y1"]
    )
    assert len(dt_df) == 9 and dt_df["score"].between(0, 1).all()


def test_per_class_ap_on_reference(shapes):
    gt_df, dt_df, images_df, class_names = shapes
    ap = per_class_ap(gt_df, dt_df, images=images_df, class_names=class_names)
    assert ap == pytest.approx(
        {
            "cloud": 67 * (2 / 3) / 101,  # FP first, then 2 of 3 found: precision 2/3 up to recall 2/3
            "heart": 34 / 101,  # 1 of 3 found at precision 1
            "arrow": 1.0,
            "star": 1.0,
        }
    )
    assert sum(ap.values()) / len(ap) == pytest.approx(REFERENCE_STATS[0], abs=1e-12)


# --- crafted tables --------------------------------------------------------------------------------


def test_perfect_detections():
    truth = gt(("a", "car", 10, 10, 50, 50), ("a", "person", 60, 60, 90, 95), ("b", "car", 5, 5, 30, 40))
    found = dets(
        ("a", "car", 10, 10, 50, 50, 0.9), ("a", "person", 60, 60, 90, 95, 0.8), ("b", "car", 5, 5, 30, 40, 0.7)
    )
    m = evaluate_detections(truth, found, images=images("a", "b"), class_names=CLASSES)
    assert (m.precision, m.recall) == (1.0, 1.0)
    # pycocotools' float sums can land one ulp under 1.0.
    assert (m.map50_95, m.map50, m.map75) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)
    assert (m.n_images, m.n_ground_truth, m.n_detections) == (2, 3, 3)
    assert len(m.stats) == 12


def test_box_below_iou_half_is_one_fp_and_one_fn():
    truth = gt(("a", "car", 0, 0, 40, 40), ("b", "car", 0, 0, 40, 40), ("c", "car", 10, 10, 60, 60))
    found = dets(
        ("a", "car", 0, 0, 40, 40, 0.9),
        ("b", "car", 0, 0, 40, 40, 0.8),
        ("c", "car", 40, 10, 90, 60, 0.7),  # shifted 30 px: IoU 20*50 / (2*2500 - 1000) = 0.25
    )
    m = evaluate_detections(truth, found, images=images("a", "b", "c"), class_names=CLASSES)
    # TP 2, FP 1, FN 1.
    assert m.precision == 2 / 3
    assert m.recall == 2 / 3
    assert m.map50 == pytest.approx(AP_AT_TWO_THIRDS)
    assert m.map50_95 == pytest.approx(AP_AT_TWO_THIRDS)


def test_wrong_class_is_fp_and_fn():
    truth = gt(("a", "car", 0, 0, 40, 40))
    found = dets(("a", "person", 0, 0, 40, 40, 0.9))
    m = evaluate_detections(truth, found, images=images("a"), class_names=CLASSES)
    assert (m.precision, m.recall, m.map50_95) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("empty", [pd.DataFrame(), dets()], ids=["no-columns", "no-rows"])
def test_empty_detections_give_zeros(empty):
    truth = gt(("a", "car", 0, 0, 40, 40), ("b", "person", 0, 0, 40, 40))
    m = evaluate_detections(truth, empty, images=images("a", "b"), class_names=CLASSES)
    assert (m.map50_95, m.map50, m.map75, m.precision, m.recall) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert (m.n_ground_truth, m.n_detections) == (2, 0)
    ap = per_class_ap(truth, empty, images=images("a", "b"), class_names=CLASSES)
    assert ap == {"car": 0.0, "person": 0.0}


def test_no_ground_truth_anywhere():
    found = dets(("a", "car", 0, 0, 40, 40, 0.9))
    m = evaluate_detections(gt(), found, images=images("a"), class_names=CLASSES)
    assert (m.map50_95, m.precision, m.recall) == (0.0, 0.0, 0.0)
    assert m.stats == (-1.0,) * 12  # pycocotools' "undefined" stays visible in the raw stats
    assert all(math.isnan(v) for v in per_class_ap(gt(), found, images=images("a"), class_names=CLASSES).values())


def test_detection_on_image_without_ground_truth_is_fp():
    truth = gt(("a", "car", 0, 0, 40, 40))
    found = dets(("a", "car", 0, 0, 40, 40, 0.9), ("b", "car", 0, 0, 40, 40, 0.8))
    m = evaluate_detections(truth, found, images=images("a", "b"), class_names=CLASSES)
    assert (m.precision, m.recall) == (0.5, 1.0)
    assert m.map50 == pytest.approx(1.0, abs=1e-12)  # the FP ranks below the TP


def test_score_threshold_excludes_low_score_tp():
    truth = gt(("a", "car", 0, 0, 40, 40), ("b", "car", 0, 0, 40, 40))
    found = dets(("a", "car", 0, 0, 40, 40, 0.9), ("b", "car", 0, 0, 40, 40, 0.1))
    imgs = images("a", "b")
    m = evaluate_detections(truth, found, images=imgs, class_names=CLASSES, score_threshold=0.25)
    assert (m.precision, m.recall) == (1.0, 0.5)
    assert m.map50_95 == pytest.approx(1.0, abs=1e-12)  # AP integrates over all scores; the threshold only affects P/R
    low = evaluate_detections(truth, found, images=imgs, class_names=CLASSES, score_threshold=0.05)
    assert (low.precision, low.recall) == (1.0, 1.0)
    none = evaluate_detections(truth, found, images=imgs, class_names=CLASSES, score_threshold=0.95)
    assert (none.precision, none.recall) == (0.0, 0.0)


def test_crowd_region_is_neither_tp_nor_fp_nor_missed():
    truth = gt(("a", "car", 0, 0, 40, 40), ("a", "car", 50, 50, 100, 100)).assign(ignore=[False, True])
    found = dets(("a", "car", 0, 0, 40, 40, 0.9), ("a", "car", 55, 55, 95, 95, 0.8))
    m = evaluate_detections(truth, found, images=images("a"), class_names=CLASSES)
    assert (m.precision, m.recall) == (1.0, 1.0)
    assert m.map50_95 == pytest.approx(1.0, abs=1e-12)


def test_evaluate_by_slice_gives_each_slice_its_own_values():
    imgs = images("a", "b", "c", scene=["day", "night", "night"])
    truth = gt(("a", "car", 0, 0, 40, 40), ("b", "car", 0, 0, 40, 40), ("c", "person", 10, 10, 60, 60))
    found = dets(
        ("a", "car", 0, 0, 40, 40, 0.9),  # day: perfect
        ("b", "car", 0, 0, 40, 40, 0.8),  # night: car found
        ("c", "person", 40, 10, 90, 60, 0.7),  # night: person missed (IoU 0.25)
    )
    by_scene = evaluate_by_slice(truth, found, images=imgs, class_names=CLASSES, slice_column="scene")
    assert set(by_scene) == {"day", "night"}
    day, night = by_scene["day"], by_scene["night"]
    assert (day.precision, day.recall, day.n_images, day.n_ground_truth) == (1.0, 1.0, 1, 1)
    assert day.map50_95 == pytest.approx(1.0, abs=1e-12)
    # night: car AP 1, person AP 0 -> mAP 0.5; TP 1, FP 1, FN 1.
    assert (night.precision, night.recall) == (0.5, 0.5)
    assert night.map50_95 == pytest.approx(0.5, abs=1e-12)
    assert (night.n_images, night.n_ground_truth, night.n_detections) == (2, 2, 2)
    # Same as evaluating the slice's rows alone.
    alone = evaluate_detections(truth[1:], found[1:], images=imgs[1:], class_names=CLASSES)
    assert alone == night


def test_evaluate_by_slice_with_no_detections():
    imgs = images("a", "b", lighting=["bright", "dark"])
    truth = gt(("a", "car", 0, 0, 40, 40))
    out = evaluate_by_slice(truth, pd.DataFrame(), images=imgs, class_names=CLASSES, slice_column="lighting")
    assert set(out) == {"bright", "dark"}
    assert out["bright"].recall == 0.0 and out["bright"].n_ground_truth == 1
    assert out["dark"].n_ground_truth == 0


def test_as_dict_is_json_ready():
    m = evaluate_detections(gt(("a", "car", 0, 0, 4, 4)), dets(), images=images("a"), class_names=CLASSES)
    d = m.as_dict()
    assert json.loads(json.dumps(d)) == d
    assert set(d) == {f.name for f in DetectionMetrics.__dataclass_fields__.values()}


@pytest.mark.parametrize(
    "truth, found, message",
    [
        (gt(("z", "car", 0, 0, 4, 4)), dets(), "not in `images`"),
        (gt(("a", "bus", 0, 0, 4, 4)), dets(), "class names"),
        (gt(), dets(("a", "car", 0, 0, 4, 4, float("nan"))), "non-finite"),
        (gt(("a", "car", 5, 0, 4, 4)), dets(), "x2 < x1"),
    ],
)
def test_bad_input_is_rejected(truth, found, message):
    with pytest.raises(ValueError, match=message):
        evaluate_detections(truth, found, images=images("a"), class_names=CLASSES)


def test_slice_column_must_exist():
    with pytest.raises(ValueError, match="slice column"):
        evaluate_by_slice(gt(), dets(), images=images("a"), class_names=CLASSES, slice_column="scene")
