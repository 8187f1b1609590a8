"""Face and plate blurring on a real photograph and a synthetic plate.

Detection needs a Haar CascadeClassifier and its cascade files, which OpenCV 5.0 wheels no longer ship; the
project pins OpenCV 4, so a build without them fails these tests rather than skipping them.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import cv2
import matplotlib.cbook
import numpy as np
import pytest

from vision_assets.core.video import (
    FRONTAL_FACE,
    PLATE,
    PROFILE_FACE,
    Blurrer,
    PrivacyUnavailableError,
    blur_regions,
    missing_detector_reason,
    pad_box,
)


def needs_detector(test):
    """Fails, naming what is missing, when the installed OpenCV has no cascade detectors."""
    def run(*args, **kwargs):
        missing = missing_detector_reason((FRONTAL_FACE, PROFILE_FACE, PLATE))
        assert not missing, missing
        return test(*args, **kwargs)
    return functools.wraps(test)(run)
# Grace Hopper's face in matplotlib's 512x600 sample photo, drawn by hand: x, y, width, height.
HOPPER_FACE = (160, 110, 210, 220)


@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
    image = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    assert image is not None and image.shape == (600, 512, 3)
    return image


def synthetic_plate() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A Russian-layout plate (520x112 mm proportions, 'A123BC | 77 RUS') on a dark car on grey tarmac."""
    image = np.full((360, 640, 3), 110, np.uint8)
    image = cv2.add(image, np.random.default_rng(0).integers(0, 20, image.shape, dtype=np.uint8))
    cv2.rectangle(image, (100, 80), (540, 300), (60, 60, 70), -1)
    x, y, w, h = 230, 211, 180, 38
    cv2.rectangle(image, (x, y), (x + w, y + h), (235, 235, 235), -1)
    cv2.rectangle(image, (x, y), (x + w, y + h), (20, 20, 20), 1)
    divider = x + int(w * 0.76)
    cv2.line(image, (divider, y), (divider, y + h), (20, 20, 20), 1)
    scale, ink = h / 40, (15, 15, 15)
    cv2.putText(image, "A123BC", (x + 6, y + 30), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.85, ink, 3, cv2.LINE_AA)
    cv2.putText(image, "77", (divider + 4, y + 22), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.6, ink, 2, cv2.LINE_AA)
    cv2.putText(image, "RUS", (divider + 4, y + 35), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.25, ink, 1, cv2.LINE_AA)
    return image, (x, y, w, h)


def sharpness(bgr: np.ndarray, box) -> float:
    """Variance of the Laplacian: the high-frequency energy a recognisable face or legible text needs."""
    x, y, w, h = box
    gray = cv2.cvtColor(bgr[y:y + h, x:x + w], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def outside(bgr: np.ndarray, box) -> np.ndarray:
    x, y, w, h = box
    mask = np.ones(bgr.shape[:2], bool)
    mask[y:y + h, x:x + w] = False
    return bgr[mask]


def overlap_share(box, reference) -> float:
    """How much of `reference` the box covers."""
    (ax, ay, aw, ah), (bx, by, bw, bh) = box, reference
    inter = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))
    return inter / (bw * bh)


def test_off_returns_the_frame_untouched(hopper):
    blurrer = Blurrer(faces=False, plates=False)
    out, info = blurrer(hopper)
    assert out is hopper
    assert info == {"blurred": False, "blur_regions": 0, "faces": 0, "plates": 0}


def test_blur_regions_destroys_detail_inside_and_nothing_outside(hopper):
    out = blur_regions(hopper, [HOPPER_FACE])
    assert sharpness(out, HOPPER_FACE) < sharpness(hopper, HOPPER_FACE) / 50
    assert np.array_equal(outside(out, HOPPER_FACE), outside(hopper, HOPPER_FACE))
    assert np.array_equal(blur_regions(hopper, [(-50, -50, 10, 10), (600, 0, 10, 10)]), hopper)


def test_blur_regions_makes_a_plate_illegible():
    image, plate = synthetic_plate()
    padded = pad_box(plate, 0.2, image.shape[1], image.shape[0])
    out = blur_regions(image, [padded])
    assert sharpness(out, plate) < sharpness(image, plate) / 50
    assert np.array_equal(outside(out, padded), outside(image, padded))


def test_asking_for_blur_without_a_detector_fails_loudly(tmp_path):
    with pytest.raises(PrivacyUnavailableError, match="cannot blur faces"):
        Blurrer(faces=True, cascade_dir=tmp_path)  # an empty folder: no cascade files in any build
    assert Blurrer(cascade_dir=tmp_path).enabled is False  # off needs no detector


@needs_detector
def test_blurs_the_one_face_and_leaves_the_rest(hopper):
    # Detection at half size, so boxes found on the small copy must land right on the full image.
    blurrer = Blurrer(faces=True, detect_max_side=300)
    [face] = blurrer.detect(hopper)["faces"]
    assert overlap_share(face, HOPPER_FACE) > 0.8 and overlap_share(HOPPER_FACE, face) > 0.6
    out, info = blurrer(hopper)
    assert info == {"blurred": True, "blur_regions": 1, "faces": 1, "plates": 0}
    assert sharpness(out, face) < sharpness(hopper, face) / 50
    padded = pad_box(face, blurrer.padding, hopper.shape[1], hopper.shape[0])
    assert np.array_equal(outside(out, padded), outside(hopper, padded))
    assert blurrer.detect(out)["faces"] == []


@needs_detector
def test_blurs_a_plate():
    image, plate = synthetic_plate()
    blurrer = Blurrer(plates=True)
    [found] = blurrer.detect(image)["plates"]
    assert overlap_share(found, plate) > 0.9
    out, info = blurrer(image)
    assert info == {"blurred": True, "blur_regions": 1, "faces": 0, "plates": 1}
    assert sharpness(out, plate) < sharpness(image, plate) / 50
    assert all(overlap_share(box, plate) == 0 for box in blurrer.detect(out)["plates"])


@needs_detector
def test_one_blurrer_serves_several_threads(hopper):
    blurrer = Blurrer(faces=True, plates=True, profiles=False, detect_max_side=300)
    plate_image, _ = synthetic_plate()
    images = [hopper, plate_image] * 3
    expected = [blurrer(image) for image in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(blurrer, images))
    for (out, info), (want_out, want_info) in zip(results, expected):
        assert info == want_info and np.array_equal(out, want_out)
