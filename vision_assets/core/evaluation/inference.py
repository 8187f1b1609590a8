"""Running a checkpoint for evaluation: batched detection on still images and Ultralytics' own trackers on a video's
frames in order. One InferenceConfig describes both, so what is evaluated is what the registry later serves.

Everything Ultralytics needs comes from its package (the tracker yamls ship with it); nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from vision_assets.core.errors import VisionError
from vision_assets.core.training.environment import resolve_device, ultralytics_yolo

DETECTION_TABLE = ["image_path", "class_name", "x1", "y1", "x2", "y2", "score"]
TRACK_TABLE = ["frame", "track_id", "class_name", "x1", "y1", "x2", "y2", "score"]
TRACKERS = ("bytetrack", "botsort")


class InvalidInferenceConfig(VisionError, ValueError):
    """An inference setting out of its range (a run config of eval_report, a project file)."""


@dataclass(frozen=True)
class InferenceConfig:
    """How the checkpoint is run. `conf` is the operating confidence (precision, recall, errors, the registry's
    serving threshold); detection for mAP runs at `predict_conf`, far lower, since AP integrates over all scores.
    `iou` is the NMS IoU. Trackers see detections from `track_conf` up, because ByteTrack's second stage matches
    low-score boxes (Ultralytics' own default for `track`)."""

    imgsz: int = 256
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 100
    predict_conf: float = 0.001
    track_conf: float = 0.1
    tracker: str = "bytetrack"
    batch: int = 16

    def __post_init__(self):
        if self.tracker not in TRACKERS:
            raise InvalidInferenceConfig(object=f"tracker {self.tracker!r}", problem=f"not one of {', '.join(TRACKERS)}")
        for name in ("conf", "iou", "predict_conf", "track_conf"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidInferenceConfig(f"{name} must lie in [0, 1], not {getattr(self, name)}")
        if self.imgsz <= 0 or self.max_det <= 0 or self.batch <= 0:
            raise InvalidInferenceConfig("imgsz, max_det and batch must be positive")

    def as_dict(self) -> dict:
        return asdict(self)

    def with_imgsz(self, imgsz: int) -> InferenceConfig:
        return replace(self, imgsz=int(imgsz))

    def fingerprint(self) -> str:
        """What decides the numbers, without imgsz (a property of the checkpoint, fixed by its sha256) and
        without batch (the same boxes come out at any batch size)."""
        payload = {k: v for k, v in self.as_dict().items() if k not in ("imgsz", "batch")}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def load_model(weights: Path, work_dir: Path):
    return ultralytics_yolo(work_dir)(str(weights))


def predict_images(weights: Path, image_paths: list[str], config: InferenceConfig, *, work_dir: Path,
                   device: str = "auto", model=None) -> pd.DataFrame:
    """Detections on each image, `config.batch` images per forward pass: DETECTION_TABLE rows."""
    model = model or load_model(weights, work_dir)
    names = model.names
    rows = []
    for start in range(0, len(image_paths), config.batch):
        chunk = image_paths[start : start + config.batch]
        results = model.predict(chunk, imgsz=config.imgsz, conf=config.predict_conf, iou=config.iou,
                                max_det=config.max_det, device=resolve_device(device), batch=config.batch,
                                verbose=False, save=False)
        for path, result in zip(chunk, results):
            for x1, y1, x2, y2, score, cls in _boxes(result):
                rows.append((path, str(names[int(cls)]), x1, y1, x2, y2, score))
    return pd.DataFrame(rows, columns=DETECTION_TABLE)


def track_frames(weights: Path, frames: Iterable[tuple[int, np.ndarray]], config: InferenceConfig, *,
                 work_dir: Path, device: str = "auto") -> pd.DataFrame:
    """Ultralytics' tracker (config.tracker) over (frame index, BGR image) pairs in order: TRACK_TABLE rows.

    A fresh model per call, so no tracker state carries over from another video. Frames go through in batches:
    in non-stream mode Ultralytics feeds one tracker the batch's results in order, exactly as frame by frame."""
    model = load_model(weights, work_dir)
    names = model.names
    tracker = _tracker_yaml(config.tracker)
    rows = []
    for chunk in _chunks(frames, config.batch):
        indices, images = zip(*chunk)
        results = model.track(list(images), persist=True, tracker=tracker, imgsz=config.imgsz, conf=config.track_conf,
                              iou=config.iou, max_det=config.max_det, device=resolve_device(device),
                              batch=len(images), verbose=False, save=False)
        for frame, result in zip(indices, results):
            boxes = result.boxes
            if boxes is None or boxes.id is None or len(boxes) == 0:
                continue
            ids = boxes.id.cpu().numpy().astype(np.int64)
            for track_id, (x1, y1, x2, y2, score, cls) in zip(ids, _boxes(result)):
                rows.append((int(frame), int(track_id), str(names[int(cls)]), x1, y1, x2, y2, score))
    return pd.DataFrame(rows, columns=TRACK_TABLE)


def _tracker_yaml(name: str) -> str:
    """The tracker's yaml as Ultralytics ships it (a path inside the installed package, never a download)."""
    import ultralytics

    path = Path(ultralytics.__file__).parent / "cfg" / "trackers" / f"{name}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{path}: this Ultralytics release has no {name} tracker")
    return str(path)


def _boxes(result) -> Iterator[tuple[float, float, float, float, float, float]]:
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return
    xyxy = boxes.xyxy.cpu().numpy().astype(float)
    for (x1, y1, x2, y2), score, cls in zip(xyxy, boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy()):
        yield float(x1), float(y1), float(x2), float(y2), float(score), float(cls)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
