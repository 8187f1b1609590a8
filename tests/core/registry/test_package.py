"""The package on its own: ONNX Runtime matches PyTorch within the stated tolerance, and the manifest catches a
changed, added or missing file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vision_assets.core.registry.package import (
    BOX_TOLERANCE_PX,
    SCORE_TOLERANCE,
    PackageTampered,
    build_package,
    verify_package,
)

# An evaluation's operating point (Evaluation.inference_config), as eval_report records it.
SERVED = {"imgsz": 64, "conf": 0.09, "iou": 0.7, "max_det": 100, "class_names": ["car", "pedestrian", "cyclist"],
          "tracker": "bytetrack"}


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    from ultralytics import YOLO

    folder = tmp_path_factory.mktemp("package")
    weights = folder / "w.pt"
    YOLO("yolov8n.yaml").save(str(weights))  # built from its yaml: nothing downloaded
    images = []
    for seed in range(2):
        path = folder / f"frame{seed}.jpg"
        cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 255, (72, 128, 3), dtype=np.uint8))
        images.append(path)
    return build_package(weights, SERVED, images, folder / "out")


def test_onnx_matches_torch_within_tolerance(package):
    parity = package.parity
    assert parity["images"] == 2 and parity["within_tolerance"]
    assert 0 <= parity["max_box_diff_px"] <= BOX_TOLERANCE_PX and 0 <= parity["max_score_diff"] <= SCORE_TOLERANCE
    files = {p.relative_to(package.path).as_posix() for p in package.path.rglob("*") if p.is_file()}
    assert {"MLmodel", "artifacts/best.pt", "artifacts/best.onnx", "detector_model.py", "input_example.json",
            "inference_config.json", "manifest.sha256.json"} <= files


def test_manifest_refuses_changed_added_and_missing_files(package, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(package.path, copy)
    assert "artifacts/best.onnx" in verify_package(copy, package.manifest_sha256)
    with pytest.raises(PackageTampered, match="its sha256 is not the one recorded"):
        verify_package(copy, "0" * 64)
    (copy / "extra.py").write_text("print('hi')")
    with pytest.raises(PackageTampered, match="extra.py: in the package but not in its manifest"):
        verify_package(copy, package.manifest_sha256)
    (copy / "extra.py").unlink()
    data = bytearray((copy / "MLmodel").read_bytes())
    data[0] ^= 1
    (copy / "MLmodel").write_bytes(bytes(data))
    with pytest.raises(PackageTampered, match="MLmodel: sha256"):
        verify_package(copy, package.manifest_sha256)
    (copy / "MLmodel").unlink()
    with pytest.raises(PackageTampered, match="MLmodel: listed in the manifest but missing"):
        verify_package(copy, package.manifest_sha256)
