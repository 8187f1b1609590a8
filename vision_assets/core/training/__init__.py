"""Training: Ultralytics YOLO on a dataset version, the checkpoint record, resume, sweeps, reproduction, and the
environment it runs in."""

from vision_assets.core.training.checkpoint import existing_checkpoint, train_checkpoint
from vision_assets.core.training.environment import code_version, git_commit, resolve_device
from vision_assets.core.training.weights import weights_sha256
from vision_assets.core.training.yolo import TrainConfig, TrainResult, predict, read_results_csv, train_yolo

__all__ = ["TrainConfig", "TrainResult", "code_version", "existing_checkpoint", "git_commit", "predict",
           "read_results_csv", "resolve_device", "train_checkpoint", "train_yolo", "weights_sha256"]
