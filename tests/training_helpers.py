"""A tiny real dataset version for training tests: coloured boxes on textured 64x64 images, three splits,
published in a lake the way dataset_split publishes one (record + Ultralytics export)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from vision_assets.core.lake import Lake, keys
from vision_assets.core.records import DatasetVersion

TINY_VERSION = "tinytrain0001"
FAST = dict(epochs=2, imgsz=64, batch=4, workers=0, device="cpu", mosaic=0.0, close_mosaic=0)


def tiny_dataset(lake: Lake, version: str = TINY_VERSION, per_split: dict[str, int] | None = None) -> DatasetVersion:
    per_split = per_split or {"train": 8, "val": 4, "test": 4}
    folder = lake.local_path(keys.dataset_yolo_folder(version))
    rng = np.random.default_rng(0)
    rows, boxes = [], []
    for split, count in per_split.items():
        (folder / "images" / split).mkdir(parents=True, exist_ok=True)
        (folder / "labels" / split).mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(count):
            name = f"{split}_{i:03d}"
            image = cv2.resize(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), (64, 64))
            x, y = int(rng.integers(4, 30)), int(rng.integers(4, 30))
            w, h = int(rng.integers(14, 30)), int(rng.integers(14, 30))
            cls = i % 2
            cv2.rectangle(image, (x, y), (x + w, y + h), (0, 0, 255) if cls == 0 else (255, 0, 0), -1)
            cv2.imwrite(str(folder / "images" / split / f"{name}.jpg"), image)
            (folder / "labels" / split / f"{name}.txt").write_text(
                f"{cls} {(x + w / 2) / 64:.6f} {(y + h / 2) / 64:.6f} {w / 64:.6f} {h / 64:.6f}\n")
            lines.append(f"./images/{split}/{name}.jpg")
            rows.append({"sample_id": name, "frame_sha256": name.ljust(64, "0"), "video_sha256": f"video-{split}",
                         "frame_index": i, "scene": "cam", "day": "2026-01-01", "split": split, "label_version": "lv",
                         "n_boxes": 1, "image_path": f"{keys.dataset_yolo_folder(version)}/images/{split}/{name}.jpg",
                         "width": 64, "height": 64, "lighting": "day", "split_group": f"video-{split}"})
            boxes.append({"video_sha256": f"video-{split}", "frame_index": i, "class_name": ["car", "pedestrian"][cls],
                          "x1": float(x), "y1": float(y), "x2": float(x + w), "y2": float(y + h)})
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n")
    (folder / "data.yaml").write_text("train: train.txt\nval: val.txt\ntest: test.txt\nnames:\n  0: car\n  1: pedestrian\n")
    lake.write_table(keys.DATASET_MANIFEST, pd.DataFrame(rows), {"version": version})
    manifest_key = keys.table_key(keys.DATASET_MANIFEST, {"version": version})
    lake.write_table(keys.DATASET_LABELS, pd.DataFrame(boxes), {"version": version})
    record = {"version": version, "class_names": ["car", "pedestrian"],
              "data_yaml": f"{keys.dataset_yolo_folder(version)}/data.yaml", "manifest_path": manifest_key}
    lake.write_json(keys.dataset_record_key(version), record)
    return DatasetVersion.from_json(record)


def tiny_registry(tmp_path: Path):
    from vision_assets.core.registry import ModelRegistry

    (tmp_path / "mlflow").mkdir(exist_ok=True)
    return ModelRegistry(f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}", (tmp_path / "mlflow" / "artifacts").as_uri())


def tiny_lake(tmp_path: Path) -> Lake:
    (tmp_path / "lake").mkdir(exist_ok=True)
    return Lake(str(tmp_path / "lake"))
