"""A tiny lake made by hand for evaluation tests: one labelled test video with two known tracks, three of its
frames as the test split of a dataset version, and an untrained YOLO checkpoint (built from its yaml)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from helpers import texture, write_clip

from vision_assets.core.records import DatasetVersion

FRAMES, WIDTH, HEIGHT = 12, 128, 96
SCENE, DAY, VERSION = "cam-a", "2026-11-18", "v-test"
CLASSES = ["car", "pedestrian", "cyclist"]

# One image with one error of each detection kind (the classifier's crafted case, shared by its tests).
CRAFTED_GT = pd.DataFrame(
    [
        ("i1", "cat", 0, 0, 100, 100),  # found (first detection), and found again (second: duplicate)
        ("i1", "dog", 200, 0, 300, 100),  # boxed right but called cat: class confusion
        ("i1", "cat", 0, 200, 100, 300),  # boxed badly (IoU 0.4): localisation
        ("i1", "dog", 400, 400, 500, 500),  # never found: false negative
    ],
    columns=["image_id", "class_name", "x1", "y1", "x2", "y2"],
)
CRAFTED_DETS = pd.DataFrame(
    [
        ("i1", "cat", 0, 0, 100, 100, 0.9),
        ("i1", "cat", 0, 0, 100, 90, 0.8),
        ("i1", "cat", 200, 0, 300, 100, 0.7),
        ("i1", "cat", 0, 200, 100, 240, 0.6),
        ("i1", "dog", 600, 600, 650, 650, 0.5),  # nothing there: false positive
    ],
    columns=["image_id", "class_name", "x1", "y1", "x2", "y2", "score"],
)


def track_boxes() -> pd.DataFrame:
    """Two objects moving right: a car (track 1) on every frame, a pedestrian (track 2) from frame 3 on."""
    rows = []
    for f in range(FRAMES):
        rows.append((f, 1, "car", 4.0 + 4 * f, 20.0, 34.0 + 4 * f, 44.0))
        if f >= 3:
            rows.append((f, 2, "pedestrian", 10.0 + 3 * f, 55.0, 22.0 + 3 * f, 85.0))
    return pd.DataFrame(rows, columns=["frame_index", "track_id", "class_name", "x1", "y1", "x2", "y2"])


def draw_frames(boxes: pd.DataFrame, seed: int = 11) -> list[np.ndarray]:
    """The clip's frames: a textured background (by seed) with each labelled box filled in its class's colour."""
    background = texture(seed, (WIDTH, HEIGHT))
    out = []
    for f in range(FRAMES):
        image = background.copy()
        for b in boxes[boxes["frame_index"] == f].itertuples():
            colour = (30, 30, 220) if b.class_name == "car" else (220, 200, 40)
            cv2.rectangle(image, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), colour, -1)
        out.append(image)
    return out


def build_evaluation_lake(tmp_path: Path, root: str | None = None):
    """(lake, dataset record, weights path, ground-truth track table) for a lake at root (default tmp_path/lake)."""
    from vision_assets.core.lake import Lake, keys
    from vision_assets.core.training.environment import ultralytics_yolo

    lake = Lake(root or str(tmp_path / "lake"))
    boxes = track_boxes()
    images = draw_frames(boxes)
    clip = write_clip(tmp_path / "clip.mp4", images, fps=10)
    video_sha, video_key, _ = lake.put_blob_file(keys.VIDEO_BLOBS, clip, ".mp4")
    partition = {"scene": SCENE, "day": DAY}
    raw = {"video_sha256": video_sha, "source_name": "clip.mp4", "stored_path": video_key, "outcome": "ok",
           "fps": 10.0, "width": WIDTH, "height": HEIGHT, "lighting": "day", "weather": "rain", "device": "demo-1",
           "sidecar": json.dumps({"weather": "rain", "lighting": "day", "mount": "pole"}), "duplicate_of": ""}
    lake.write_table(keys.RAW_VIDEOS, pd.DataFrame([raw]), partition)
    labels = boxes.assign(video_sha256=video_sha, occluded=False, annotator="a", attributes="{}")
    lake.write_table(keys.QC_ANNOTATIONS, labels, partition)

    # The decoded frames (not the drawn ones): what a sampler would have stored.
    from vision_assets.core.video.decode import VideoSource

    with VideoSource(clip) as source:
        decoded = {frame.index: frame.bgr for frame in source.frames()}
    manifest = []
    for f in (0, 4, 8):
        ok, jpeg = cv2.imencode(".jpg", decoded[f])
        digest, key, _ = lake.put_blob_bytes(keys.FRAME_BLOBS, jpeg.tobytes(), ".jpg")
        manifest.append({"sample_id": f"{video_sha[:16]}_{f:07d}", "frame_sha256": digest, "video_sha256": video_sha,
                         "frame_index": f, "scene": SCENE, "day": DAY, "split": "test", "label_version": "l1",
                         "n_boxes": int((boxes["frame_index"] == f).sum()), "image_path": key, "width": WIDTH,
                         "height": HEIGHT, "lighting": "day", "split_group": video_sha})
    lake.write_table(keys.DATASET_MANIFEST, pd.DataFrame(manifest), {"version": VERSION})
    lake.write_table(keys.DATASET_LABELS, labels[labels["frame_index"].isin([0, 4, 8])], {"version": VERSION})
    dataset = DatasetVersion(version=VERSION, class_names=CLASSES)

    work = tmp_path / "work"
    model = ultralytics_yolo(work)("yolov8n.yaml")
    weights = tmp_path / "untrained.pt"
    model.save(str(weights))
    return lake, dataset, weights, boxes


def confident_weights(tmp_path: Path) -> Path:
    """An untrained YOLO whose class head is biased to say "car", confidently, everywhere: a real checkpoint that
    finds boxes (wrong ones) on any image, so every path that handles predictions and tracks is exercised."""
    from vision_assets.core.training.environment import ultralytics_yolo

    model = ultralytics_yolo(tmp_path / "work")("yolov8n.yaml")
    for branch in model.model.model[-1].cv3:
        branch[-1].bias.data[:] = -10.0
        branch[-1].bias.data[0] = 8.0
    model.model.names = {i: (CLASSES[i] if i < len(CLASSES) else str(i)) for i in range(len(model.model.names))}
    weights = tmp_path / "confident.pt"
    model.save(str(weights))
    return weights
