"""The package's latency per image, measured as a deployment serves it: pyfunc and ONNX, batch 1 and a batch of
several, on real frames (the OpenCV campus clip of the test material). No timing thresholds: the numbers exist, are
positive and finite, and p95 >= p50."""

from __future__ import annotations

import math

import cv2
import pytest

from vision_assets.core.registry.latency import (
    FLAVOURS,
    MODES,
    latency_from_tags,
    latency_rows,
    measure_package_latency,
    tag_name,
)
from vision_assets.core.registry.package import build_package

SERVED = {"imgsz": 64, "conf": 0.09, "iou": 0.7, "max_det": 100, "class_names": ["car", "pedestrian", "cyclist"],
          "tracker": "bytetrack"}


@pytest.fixture(scope="module")
def package_and_frames(tmp_path_factory, material):
    from ultralytics import YOLO

    folder = tmp_path_factory.mktemp("latency")
    weights = folder / "w.pt"
    YOLO("yolov8n.yaml").save(str(weights))  # built from its yaml: nothing downloaded
    capture = cv2.VideoCapture(str(material / "videos" / "vtest.avi"))
    frames = []
    for index in range(3):
        ok, image = capture.read()
        assert ok, "vtest.avi: fewer than 3 frames"
        path = folder / f"frame{index}.jpg"
        cv2.imwrite(str(path), cv2.resize(image, (160, 120)))
        frames.append(path)
    capture.release()
    return build_package(weights, SERVED, frames[:1], folder / "out"), frames


def test_both_flavours_at_both_batches_are_measured_and_tagged(package_and_frames):
    package, frames = package_and_frames
    latency = measure_package_latency(package.path, frames, batch=4, device="cpu", iterations={"batch1": 4,
                                                                                               "batched": 2})
    print(latency.as_dict())
    assert latency.device == "cpu" and latency.batch == 4 and latency.images == 3
    assert latency.onnx_provider == "CPUExecutionProvider"
    tags = latency.tags()
    for flavour in FLAVOURS:
        for mode in MODES:
            p50, p95 = (float(tags[tag_name(flavour, mode, stat)]) for stat in ("p50", "p95"))
            assert math.isfinite(p50) and math.isfinite(p95) and 0 < p50 <= p95, (flavour, mode, p50, p95)
    assert tags["latency_batch"] == "4" and tags["latency_device"] == "cpu"

    read = latency_from_tags(tags)  # what the registry gives back is what was measured (to 4 digits)
    assert read["device"] == "cpu" and read["batch"] == 4
    assert read["ms"]["onnx"]["batched"]["p95"] == pytest.approx(latency.ms["onnx"]["batched"]["p95"], rel=1e-3)


def test_champion_against_this_version():
    ours = {"device": "cpu", "batch": 8, "ms": {"pyfunc": {"batch1": {"p50": 20.0, "p95": 30.0}},
                                                "onnx": {"batched": {"p50": 5.0, "p95": 6.0}}}}
    theirs = {"device": "cpu", "batch": 8, "ms": {"pyfunc": {"batch1": {"p50": 40.0, "p95": 30.0}}}}
    rows = {(r["flavour"], r["batch"], r["stat"]): r for r in latency_rows(ours, theirs)}
    assert set(rows) == {("pyfunc", 1, "p50"), ("pyfunc", 1, "p95"), ("onnx", 8, "p50"), ("onnx", 8, "p95")}
    assert rows[("pyfunc", 1, "p50")]["ratio"] == 0.5 and rows[("pyfunc", 1, "p95")]["ratio"] == 1.0
    assert math.isnan(rows[("onnx", 8, "p50")]["champion_ms"]) and math.isnan(rows[("onnx", 8, "p50")]["ratio"])
    other_device = latency_rows(ours, {**theirs, "device": "0"})
    assert all(math.isnan(r["ratio"]) for r in other_device)  # another machine's numbers: no ratio
    assert latency_from_tags({"gate": "pass"}) == {}
