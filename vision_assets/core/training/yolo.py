"""Ultralytics YOLO training and inference, isolated so nothing it writes lands outside our work folder."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from vision_assets.core.errors import InvalidOption
from vision_assets.core.lake import sha256_file
from vision_assets.core.numbers import finite_number
from vision_assets.core.training.environment import code_version, resolve_device, seed_everything, ultralytics_yolo

if TYPE_CHECKING:  # pandas loads in predict: TrainConfig is read when the code location loads
    import pandas as pd


@dataclass(frozen=True)
class TrainConfig:
    model: str = "yolov8n.yaml"  # a yaml builds from scratch; a local .pt file fine-tunes those weights
    epochs: int = 20
    imgsz: int = 256
    batch: int = 16
    seed: int = 0
    device: str = "auto"
    workers: int = 2
    optimizer: str = "AdamW"
    lr0: float = 0.003
    patience: int = 50  # epochs without a better val fitness before stopping early
    val_every: int = 1  # validate every k epochs (and always on the last); best.pt is chosen among those
    mosaic: float = 1.0
    close_mosaic: int = 5
    mixup: float = 0.0
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    fliplr: float = 0.5
    flipud: float = 0.0
    scale: float = 0.5
    amp: bool | None = None  # None: on when training on CUDA (without Ultralytics' downloading self-check)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """A config from a record or a sweep file; unknown names are an error, not silently dropped."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidOption(object="training config", problem=f"unknown option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def fingerprint(self, dataset_version: str) -> str:
        payload = {"config": self.as_dict(), "dataset": dataset_version, "code": code_version()}
        if self.model.endswith(".pt"):  # the bytes fine-tuned from, not just their name
            payload["model_sha256"] = model_file_sha256(self.model)
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def model_file_sha256(model: str) -> str | None:
    if not model.endswith(".pt"):
        return None
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"{model}: the model to fine-tune from is not a local file (nothing is downloaded)")
    return sha256_file(path)


@dataclass(frozen=True)
class TrainResult:
    weights_path: Path
    run_dir: Path
    device: str
    epochs: list[dict]  # per-epoch metrics from Ultralytics' results.csv
    best_epoch: int | None = None  # 1-based epoch whose weights are best.pt (by val fitness)
    best_fitness: float | None = None
    best_val: dict = field(default_factory=dict)  # best.pt's metrics on the val split
    trained_epochs: list[int] = field(default_factory=list)  # epochs this call trained (a resume skips the rest)
    amp: bool = False


def train_yolo(data_yaml: Path, config: TrainConfig, run_dir: Path,
               on_epoch: Callable[[int, dict], None] | None = None, *, resume: bool = False) -> TrainResult:
    """Train in run_dir. With resume, continue from run_dir's last.pt (optimizer, scheduler, EMA and early-stopping
    state included); the caller decides whether that checkpoint belongs to this config (see resume.py)."""
    YOLO = ultralytics_yolo(run_dir.parent)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    amp = config.amp if config.amp is not None else device not in ("cpu", "mps")
    last = run_dir / "weights" / "last.pt"
    if resume:
        model = YOLO(str(last))
    else:
        model_file_sha256(config.model)  # a clear error for a missing .pt before Ultralytics tries to fetch it
        model = YOLO(config.model)
    trained: list[int] = []
    state = {"best_val": {}}

    def epoch_end(trainer) -> None:
        epoch = int(trainer.epoch) + 1
        if epoch > trainer.epochs or epoch in trained:  # final_eval re-fires this callback for best.pt
            return
        trained.append(epoch)
        if on_epoch:
            on_epoch(epoch, _epoch_metrics(trainer))

    def train_end(trainer) -> None:
        state["best_val"] = {k: float(v) for k, v in (trainer.metrics or {}).items() if _finite(v)}
        state["best_epoch"] = int(trainer.stopper.best_epoch) if trainer.best_fitness is not None else None
        state["best_fitness"] = float(trainer.best_fitness) if trainer.best_fitness is not None else None

    model.add_callback("on_fit_epoch_end", epoch_end)
    model.add_callback("on_train_end", train_end)
    if config.val_every > 1:
        model.add_callback("on_train_epoch_end", _validate_every(config.val_every))
    arguments = dict(data=str(data_yaml), device=device, workers=config.workers, save_dir=str(run_dir))
    if not resume:
        arguments.update(
            epochs=config.epochs, imgsz=config.imgsz, batch=config.batch, seed=config.seed, deterministic=True,
            optimizer=config.optimizer, lr0=config.lr0, patience=config.patience, mosaic=config.mosaic,
            close_mosaic=config.close_mosaic, mixup=config.mixup, hsv_h=config.hsv_h, hsv_s=config.hsv_s,
            hsv_v=config.hsv_v, fliplr=config.fliplr, flipud=config.flipud, scale=config.scale, amp=amp,
            pretrained=config.model.endswith(".pt"), project=str(run_dir.parent), name=run_dir.name,
            exist_ok=True, plots=False, val=True, verbose=False,
        )
    with _amp_without_self_check(amp):
        model.train(resume=str(last) if resume else False, **arguments)
    weights = run_dir / "weights" / "best.pt"
    if not weights.exists():
        weights = last
    return TrainResult(weights_path=weights, run_dir=run_dir, device=device,
                       epochs=read_results_csv(run_dir / "results.csv"), best_epoch=state.get("best_epoch"),
                       best_fitness=state.get("best_fitness"), best_val=state["best_val"], trained_epochs=trained,
                       amp=amp)


def _validate_every(k: int):
    """Runs before Ultralytics decides whether to validate this epoch (it always does on the last one and when
    early stopping may trigger). A skipped epoch gets no fitness, so it can neither become best.pt nor count
    against patience, and its val columns read NaN instead of repeating the previous validation."""
    def decide(trainer) -> None:
        epoch = int(trainer.epoch) + 1
        trainer.args.val = epoch % k == 0
        if not trainer.args.val:
            trainer.metrics = {key: math.nan for key in (trainer.metrics or {})}
            trainer.fitness = None
    return decide


@contextmanager
def _amp_without_self_check(amp: bool):
    """Ultralytics' check_amp downloads a reference model to compare FP32 and AMP outputs; offline it would fail
    and silently turn AMP off. The trainer imports it by name, so swapping the trainer module's reference (only
    for this call) keeps AMP as configured: on for CUDA, and CPU never uses it anyway."""
    from ultralytics.engine import trainer as trainer_module

    original = trainer_module.check_amp
    trainer_module.check_amp = lambda model: bool(amp) and next(model.parameters()).device.type == "cuda"
    try:
        yield
    finally:
        trainer_module.check_amp = original


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and finite_number(value) is not None


def _epoch_metrics(trainer) -> dict:
    metrics = {k: float(v) for k, v in (trainer.metrics or {}).items() if _finite(v)}
    losses = trainer.label_loss_items(trainer.tloss, prefix="train") if trainer.tloss is not None else {}
    metrics.update({k: float(v) for k, v in losses.items()})
    metrics.update({k: float(v) for k, v in (getattr(trainer, "lr", None) or {}).items()})
    if trainer.fitness is not None and _finite(trainer.fitness):
        metrics["fitness"] = float(trainer.fitness)
    return metrics


def read_results_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as handle:
        return [{k.strip(): float(v) for k, v in row.items() if v not in (None, "")} for row in csv.DictReader(handle)]


def predict(weights: Path, image_paths: list[str], *, work_dir: Path, imgsz: int, device: str = "auto",
            conf: float = 0.001, batch: int = 32) -> pd.DataFrame:
    """Detections for each image as a table: image_path, class_name, x1, y1, x2, y2, score."""
    import pandas as pd

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
