"""Evaluate a checkpoint on a dataset version's test split: overall, per scene, per lighting, per class."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pandas as pd

from vision_assets.core.evaluation.metrics import evaluate_by_slice, evaluate_detections, per_class_ap
from vision_assets.core.geometry import pairwise_iou
from vision_assets.core.lake import Lake, keys
from vision_assets.core.training import predict


def test_split(lake: Lake, dataset: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    manifest = lake.read_table(keys.DATASET_MANIFEST, {"version": dataset["version"]})
    labels = lake.read_table(keys.DATASET_LABELS, {"version": dataset["version"]})
    test = manifest[manifest["split"] == "test"].reset_index(drop=True)
    if labels is None or labels.empty:
        return test, pd.DataFrame(columns=["image_id", "class_name", "x1", "y1", "x2", "y2"])
    gt = labels.merge(test[["video_sha256", "frame_index", "sample_id"]], on=["video_sha256", "frame_index"])
    return test, gt.rename(columns={"sample_id": "image_id"})[["image_id", "class_name", "x1", "y1", "x2", "y2"]]


def test_split_hash(test: pd.DataFrame) -> str:
    """Identifies the exact test images, so two models are compared only on the same ones."""
    return hashlib.sha256("\n".join(sorted(test["frame_sha256"])).encode()).hexdigest()[:16]


def evaluate_checkpoint(lake: Lake, dataset: dict, weights: Path, *, work_dir: Path, imgsz: int, device: str = "auto") -> dict:
    test, gt = test_split(lake, dataset)
    if test.empty:
        raise ValueError(f"dataset {dataset['version']} has an empty test split: nothing to evaluate on")
    # The manifest names frames by lake key; the model and the error montage read local files.
    test["image_path"] = [str(lake.local_copy(key, work_dir / "frames")) for key in test["image_path"]]
    images = test.rename(columns={"sample_id": "image_id"})[["image_id", "width", "height", "scene", "lighting"]]
    images["lighting"] = images["lighting"].replace("", "unknown")
    detections = predict(weights, test["image_path"].tolist(), work_dir=work_dir, imgsz=imgsz, device=device)
    by_path = dict(zip(test["image_path"], test["sample_id"]))
    detections = detections.assign(image_id=detections["image_path"].map(by_path)).drop(columns=["image_path"])
    classes = list(dataset["class_names"])
    overall = evaluate_detections(gt, detections, images=images, class_names=classes)
    slices = {column: {k: v.as_dict() for k, v in evaluate_by_slice(gt, detections, images=images, class_names=classes,
                                                                  slice_column=column).items()}
              for column in ("scene", "lighting")}
    per_class = {k: (None if math.isnan(v) else v) for k, v in
                 per_class_ap(gt, detections, images=images, class_names=classes).items()}
    return {
        "dataset_version": dataset["version"],
        "test_split_hash": test_split_hash(test),
        "test_images": int(len(test)),
        "overall": overall.as_dict(),
        "by_scene": slices["scene"],
        "by_lighting": slices["lighting"],
        "per_class_ap50_95": per_class,
        "detections": detections,
        "ground_truth": gt,
        "test": test,
    }


def error_montage(report: dict, *, score_threshold: float = 0.25, max_images: int = 6, tile_width: int = 320) -> bytes | None:
    """A JPEG of the test images with the most misses and false alarms: labels green, misses red outline,
    confident detections that match no label orange. For looking at, so a few per-image loops are fine."""
    import cv2
    import numpy as np

    test, gt = report["test"], report["ground_truth"]
    dets = report["detections"]
    dets = dets[dets["score"] >= score_threshold]
    scored = []
    for sample in test.itertuples():
        g = gt[gt["image_id"] == sample.sample_id][["x1", "y1", "x2", "y2"]].to_numpy()
        d = dets[dets["image_id"] == sample.sample_id][["x1", "y1", "x2", "y2"]].to_numpy()
        overlap = pairwise_iou(g, d) >= 0.5  # gt x detections
        missed = [box for box, found in zip(g, overlap.any(axis=1)) if not found]
        false = [box for box, found in zip(d, overlap.any(axis=0)) if not found]
        if missed or false:
            scored.append((len(missed) + len(false), sample.image_path, g, missed, false))
    if not scored:
        return None
    tiles = []
    for _, path, g, missed, false in sorted(scored, key=lambda item: -item[0])[:max_images]:
        image = cv2.imread(path)
        for boxes, colour, width in ((g, (0, 200, 0), 1), (missed, (0, 0, 255), 2), (false, (0, 165, 255), 2)):
            for x1, y1, x2, y2 in boxes:
                cv2.rectangle(image, (int(x1), int(y1)), (int(x2), int(y2)), colour, width)
        scale = tile_width / image.shape[1]
        tiles.append(cv2.resize(image, (tile_width, int(image.shape[0] * scale))))
    height = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 4, cv2.BORDER_CONSTANT) for t in tiles]
    rows = [np.hstack(tiles[i : i + 3]) for i in range(0, len(tiles), 3)]
    width = max(r.shape[1] for r in rows)
    rows = [cv2.copyMakeBorder(r, 0, 4, 0, width - r.shape[1], cv2.BORDER_CONSTANT) for r in rows]
    ok, buffer = cv2.imencode(".jpg", np.vstack(rows), [int(cv2.IMWRITE_JPEG_QUALITY), 85])
    return buffer.tobytes() if ok else None
