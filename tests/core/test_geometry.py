import numpy as np
import pandas as pd
import pytest

from vision_assets.core.geometry import (
    area,
    clip_box,
    iou,
    pairwise_iou,
    xywh_to_xyxy,
    xyxy_to_xywh,
    xyxy_to_yolo,
    yolo_to_xyxy,
)


def test_iou_of_two_boxes_by_hand():
    # 10x10 boxes shifted by 5 in x: intersection 5x10 = 50, union 100 + 100 - 50 = 150.
    assert float(iou((0, 0, 10, 10), (5, 0, 15, 10))) == pytest.approx(1 / 3, abs=1e-15)
    assert float(iou((0, 0, 10, 10), (0, 0, 10, 10))) == 1.0
    # A box inside another: 4x4 of 10x10.
    assert float(iou((0, 0, 10, 10), (3, 3, 7, 7))) == 16 / 100


def test_iou_of_disjoint_touching_and_empty_boxes_is_zero():
    assert float(iou((0, 0, 10, 10), (20, 20, 30, 30))) == 0.0
    assert float(iou((0, 0, 10, 10), (10, 0, 20, 10))) == 0.0  # shared edge, no area
    assert float(iou((5, 5, 5, 5), (5, 5, 5, 5))) == 0.0  # empty union: 0, not NaN


def test_inverted_boxes_have_no_area():
    assert area(10, 10, 0, 0) == 0.0
    assert float(iou((10, 10, 0, 0), (0, 0, 10, 10))) == 0.0


def test_iou_is_elementwise_over_arrays():
    a = (np.array([0.0, 0.0]), np.array([0.0, 0.0]), np.array([10.0, 10.0]), np.array([10.0, 10.0]))
    b = (np.array([5.0, 0.0]), np.array([0.0, 5.0]), np.array([15.0, 10.0]), np.array([10.0, 10.0]))
    np.testing.assert_array_equal(iou(a, b), [50 / 150, 50 / 100])


def test_pairwise_iou_is_every_box_against_every_box():
    gt = np.array([[0, 0, 10, 10], [100, 100, 110, 120]], dtype=float)
    det = np.array([[5, 0, 15, 10], [100, 100, 110, 120], [50, 50, 60, 60]], dtype=float)
    got = pairwise_iou(gt, det)
    assert got.shape == (2, 3)
    np.testing.assert_array_equal(got, [[50 / 150, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert pairwise_iou(gt, np.zeros((0, 4))).shape == (2, 0)


def test_xywh_round_trip_on_scalars_and_series():
    assert xyxy_to_xywh(10.5, 20.0, 30.5, 60.0) == (10.5, 20.0, 20.0, 40.0)
    assert xywh_to_xyxy(10.5, 20.0, 20.0, 40.0) == (10.5, 20.0, 30.5, 60.0)
    x, y, w, h = xyxy_to_xywh(pd.Series([0.0, 1.0]), pd.Series([2.0, 3.0]), pd.Series([4.0, 5.5]), pd.Series([8.0, 9.0]))
    assert w.tolist() == [4.0, 4.5] and h.tolist() == [6.0, 6.0]


def test_yolo_conversion_matches_the_format_definition():
    # A 64x48 box whose top-left is (32, 24) on a 640x480 image: centre (64, 48) = (0.1, 0.1), size (0.1, 0.1).
    assert xyxy_to_yolo(32.0, 24.0, 96.0, 72.0, 640.0, 480.0) == (0.1, 0.1, 0.1, 0.1)
    assert yolo_to_xyxy(0.5, 0.5, 1.0, 1.0, 640.0, 480.0) == (0.0, 0.0, 640.0, 480.0)
    assert yolo_to_xyxy(0.25, 0.75, 0.5, 0.5, 100.0, 200.0) == (0.0, 100.0, 50.0, 200.0)


def test_yolo_round_trip_keeps_pixels_to_float_precision():
    rng = np.random.default_rng(0)
    x1, y1 = rng.uniform(0, 600, 100), rng.uniform(0, 400, 100)
    x2, y2 = x1 + rng.uniform(1, 40, 100), y1 + rng.uniform(1, 80, 100)
    back = yolo_to_xyxy(*xyxy_to_yolo(x1, y1, x2, y2, 640.0, 480.0), 640.0, 480.0)
    for got, want in zip(back, (x1, y1, x2, y2)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_clip_box_to_the_image():
    assert clip_box(-5.0, 10.0, 700.0, 500.0, 640, 480) == (0.0, 10.0, 640.0, 480.0)
    assert clip_box(1.0, 2.0, 3.0, 4.0, 640, 480) == (1.0, 2.0, 3.0, 4.0)
    x1, _, x2, _ = clip_box(np.array([-1.0, 650.0]), 0.0, np.array([5.0, 700.0]), 1.0, 640, 480)
    np.testing.assert_array_equal(x1, [0.0, 640.0])  # a box wholly right of the image collapses onto its edge
    np.testing.assert_array_equal(x2, [5.0, 640.0])
