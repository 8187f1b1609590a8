"""A dataset version's test split (images and labelled boxes, with the hashes that identify them), detection on it,
and the montage of its worst images; the evaluation itself is checkpoint_report.evaluate."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from vision_assets.core.evaluation.inference import InferenceConfig, predict_images
from vision_assets.core.geometry import pairwise_iou
from vision_assets.core.lake import Lake, keys
from vision_assets.core.records import DatasetVersion

GT_COLUMNS = ["image_id", "class_name", "x1", "y1", "x2", "y2", "occluded", "track_id"]


def test_split(lake: Lake, dataset: DatasetVersion) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the test split's manifest rows, their labelled boxes as GT_COLUMNS, image_id = sample_id)."""
    manifest = lake.read_table(keys.DATASET_MANIFEST, {"version": dataset.version})
    labels = lake.read_table(keys.DATASET_LABELS, {"version": dataset.version})
    test = manifest[manifest["split"] == "test"].reset_index(drop=True)
    if labels is None or labels.empty:
        return test, pd.DataFrame(columns=GT_COLUMNS)
    gt = labels.merge(test[["video_sha256", "frame_index", "sample_id"]], on=["video_sha256", "frame_index"])
    gt = gt.rename(columns={"sample_id": "image_id"})
    if "occluded" not in gt:
        gt["occluded"] = False
    if "track_id" not in gt:
        gt["track_id"] = -1
    gt["occluded"] = gt["occluded"].fillna(False).astype(bool)
    return test, gt[GT_COLUMNS].reset_index(drop=True)


def test_split_hash(test: pd.DataFrame) -> str:
    """Identifies the exact test images, so two models are compared only on the same ones."""
    return hashlib.sha256("\n".join(sorted(test["frame_sha256"])).encode()).hexdigest()[:16]


def test_set_hash(test: pd.DataFrame, gt: pd.DataFrame) -> str:
    """The test images and their labels: a relabelled test split is another test set, evaluated anew."""
    digest = hashlib.sha256(test_split_hash(test).encode())
    if len(gt):
        columns = ["image_id", "class_name", "x1", "y1", "x2", "y2", "occluded", "track_id"]
        boxes = gt[columns].sort_values(columns[:6]).reset_index(drop=True)
        digest.update(pd.util.hash_pandas_object(boxes, index=False).values.tobytes())
    return digest.hexdigest()[:16]


def detect_on_test_split(lake: Lake, dataset: DatasetVersion, weights: Path, config: InferenceConfig, *, work_dir: Path,
                         device: str = "auto") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(test manifest with local image paths, ground truth, detections by image_id): batched inference."""
    test, gt = test_split(lake, dataset)
    if test.empty:
        from vision_assets.core.evaluation.checkpoint_report import EmptyTestSplit

        raise EmptyTestSplit(f"dataset {dataset.version}: its test split is empty, nothing to evaluate on")
    # The manifest names frames by lake key; the model and the crops read local files.
    test = test.assign(image_key=test["image_path"])
    test["image_path"] = [str(lake.local_copy(key, work_dir / "frames")) for key in test["image_key"]]
    detections = predict_images(weights, test["image_path"].tolist(), config, work_dir=work_dir, device=device)
    by_path = dict(zip(test["image_path"], test["sample_id"]))
    detections = detections.assign(image_id=detections["image_path"].map(by_path)).drop(columns=["image_path"])
    # A checkpoint trained on another class list (an older champion) is scored on the classes both know.
    return test, gt, detections[detections["class_name"].isin(dataset.class_names)].reset_index(drop=True)


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
