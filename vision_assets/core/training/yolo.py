"""Ultralytics YOLO training and inference, isolated so nothing it writes lands outside our work folder."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from vision_assets.core.training.environment import code_version, resolve_device, seed_everything, ultralytics_yolo


@dataclass(frozen=True)
class TrainConfig:
    model: str = "yolov8n.yaml"  # a yaml builds from scratch; a .pt path fine-tunes those weights
    epochs: int = 20
    imgsz: int = 256
    batch: int = 16
    seed: int = 0
    device: str = "auto"
    workers: int = 2
    optimizer: str = "AdamW"
    lr0: float = 0.003
    mosaic: float = 1.0
    close_mosaic: int = 5
    amp: bool = False  # Ultralytics' AMP self-check downloads weights; opt in where that is possible

    def as_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self, dataset_version: str) -> str:
        payload = json.dumps({"config": self.as_dict(), "dataset": dataset_version, "code": code_version()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TrainResult:
    weights_path: Path
    run_dir: Path
    device: str
    epochs: list[dict]  # per-epoch metrics from Ultralytics' results.csv


def train_yolo(data_yaml: Path, config: TrainConfig, run_dir: Path,
               on_epoch: Callable[[int, dict], None] | None = None) -> TrainResult:
    YOLO = ultralytics_yolo(run_dir.parent)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    model = YOLO(config.model)
    if on_epoch:
        model.add_callback("on_fit_epoch_end", lambda trainer: on_epoch(int(trainer.epoch) + 1, _epoch_metrics(trainer)))
    model.train(
        data=str(data_yaml), epochs=config.epochs, imgsz=config.imgsz, batch=config.batch, seed=config.seed,
        deterministic=True, device=device, workers=config.workers, optimizer=config.optimizer, lr0=config.lr0,
        mosaic=config.mosaic, close_mosaic=config.close_mosaic, amp=config.amp, pretrained=False,
        project=str(run_dir.parent), name=run_dir.name, exist_ok=True, plots=False, val=False, verbose=False,
    )
    weights = run_dir / "weights" / "best.pt"
    if not weights.exists():
        weights = run_dir / "weights" / "last.pt"
    return TrainResult(weights_path=weights, run_dir=run_dir, device=device, epochs=read_results_csv(run_dir / "results.csv"))


def _epoch_metrics(trainer) -> dict:
    metrics = {k: float(v) for k, v in (trainer.metrics or {}).items() if isinstance(v, (int, float))}
    losses = trainer.label_loss_items(trainer.tloss, prefix="train") if trainer.tloss is not None else {}
    metrics.update({k: float(v) for k, v in losses.items()})
    return metrics


def read_results_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as handle:
        return [{k.strip(): float(v) for k, v in row.items() if v not in (None, "")} for row in csv.DictReader(handle)]


def predict(weights: Path, image_paths: list[str], *, work_dir: Path, imgsz: int, device: str = "auto",
            conf: float = 0.001, batch: int = 32) -> pd.DataFrame:
    """Detections for each image as a table: image_path, class_name, x1, y1, x2, y2, score."""
    YOLO = ultralytics_yolo(work_dir)
    model = YOLO(str(weights))
    names = model.names
    rows = []
    for start in range(0, len(image_paths), batch):
        chunk = image_paths[start : start + batch]
        for path, result in zip(chunk, model.predict(chunk, imgsz=imgsz, conf=conf, device=resolve_device(device),
                                                      verbose=False, save=False, max_det=100)):
            boxes = result.boxes
            if boxes is None or len(boxes) == 0:
                continue
            xyxy = boxes.xyxy.cpu().numpy()
            for (x1, y1, x2, y2), score, cls in zip(xyxy, boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy()):
                rows.append((path, names[int(cls)], float(x1), float(y1), float(x2), float(y2), float(score)))
    return pd.DataFrame(rows, columns=["image_path", "class_name", "x1", "y1", "x2", "y2", "score"])


