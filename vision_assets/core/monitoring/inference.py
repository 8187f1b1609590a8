"""One inference pass that yields both the detections and the detector's pooled backbone features.

Ultralytics' own `embed` stops the forward pass at the embedding layer, so detections would need a second pass;
a forward hook on the last backbone layer pools its output while `predict` runs, the way `embed` pools it
(adaptive average over the feature map), and monitoring costs one inference pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vision_assets.core.training.environment import resolve_device, ultralytics_yolo

DETECTION_COLUMNS = ["image_path", "class_name", "x1", "y1", "x2", "y2", "score"]
MONITOR_CONFIDENCE = 0.25  # Ultralytics' default: the boxes a user of the model would act on


@dataclass(frozen=True)
class Observation:
    detections: pd.DataFrame  # DETECTION_COLUMNS
    embeddings: np.ndarray  # one row per image, in the order given
    embedding_layer: int
    latency_ms: np.ndarray  # per image: Ultralytics' preprocess + inference + postprocess time

    def latency_percentiles(self) -> tuple[float, float]:
        """p50 and p95 milliseconds per image (batch 1, as Ultralytics predicts a list of files)."""
        if not len(self.latency_ms):
            return float("nan"), float("nan")
        p50, p95 = np.percentile(self.latency_ms, [50, 95])
        return float(p50), float(p95)


def backbone_layer(model) -> int:
    """The last backbone layer (SPPF in YOLOv8/11): features of the scene, before the neck mixes in the head."""
    spec = getattr(model, "yaml", None) or {}
    return len(spec["backbone"]) - 1 if "backbone" in spec else len(model.model) - 2


def observe(weights: Path, image_paths: list[str], *, work_dir: Path, imgsz: int, device: str = "auto",
            conf: float = MONITOR_CONFIDENCE, chunk: int = 32) -> Observation:
    import torch

    model = ultralytics_yolo(work_dir)(str(weights))
    names, inner = model.names, model.model
    layer = backbone_layer(inner)
    pooled: list[np.ndarray] = []

    def keep(_module, _inputs, output):
        pooled.append(torch.nn.functional.adaptive_avg_pool2d(output, 1).flatten(1).float().cpu().numpy())

    rows, latency = [], []
    handle = inner.model[layer].register_forward_hook(keep)
    try:
        for start in range(0, len(image_paths), chunk):
            paths = image_paths[start : start + chunk]
            results = model.predict(paths, imgsz=imgsz, conf=conf, device=resolve_device(device), verbose=False,
                                    save=False, max_det=100)
            for path, result in zip(paths, results):
                latency.append(sum(v for v in result.speed.values() if v is not None))
                boxes = result.boxes
                if boxes is None or len(boxes) == 0:
                    continue
                for (x1, y1, x2, y2), score, cls in zip(boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(),
                                                        boxes.cls.cpu().numpy()):
                    rows.append((path, names[int(cls)], float(x1), float(y1), float(x2), float(y2), float(score)))
    finally:
        handle.remove()
    embeddings = np.concatenate(pooled) if pooled else np.zeros((0, 0))
    if len(embeddings) != len(image_paths):  # a warm-up pass of the predictor would be pooled too
        embeddings = embeddings[-len(image_paths):]
    return Observation(pd.DataFrame(rows, columns=DETECTION_COLUMNS), embeddings, layer, np.asarray(latency, float))


def prediction_statistics(detections: pd.DataFrame, image_paths: list[str]) -> dict:
    """Detections per frame (overall and by class) and the confidence distribution."""
    frames = max(len(image_paths), 1)
    per_frame = detections.groupby("image_path").size().reindex(image_paths, fill_value=0)
    scores = detections["score"].to_numpy(float)
    quantiles = np.quantile(scores, [0.1, 0.5, 0.9]).round(4).tolist() if len(scores) else [0.0, 0.0, 0.0]
    return {
        "frames": len(image_paths),
        "detections": int(len(detections)),
        "detections_per_frame": float(len(detections) / frames),
        "frames_with_detections": int((per_frame > 0).sum()),
        "detections_per_frame_by_class": {c: round(n / frames, 4) for c, n in
                                          sorted(detections["class_name"].value_counts().items())},
        "confidence_mean": float(scores.mean()) if len(scores) else 0.0,
        "confidence_p10_p50_p90": quantiles,
        "per_frame_counts": per_frame.to_numpy(int),
    }
