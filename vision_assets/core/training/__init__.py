"""Training: Ultralytics YOLO on a dataset version, the checkpoint record, resume, sweeps, reproduction, and the
environment it runs in. Names load on first use: `settings` imports `environment` without the training code."""

from vision_assets.lazy import lazy_exports

_EXPORTS = {
    "existing_checkpoint": "checkpoint", "train_checkpoint": "checkpoint",
    "code_version": "environment", "git_commit": "environment", "resolve_device": "environment",
    "weights_sha256": "weights",
    "TrainConfig": "yolo", "TrainResult": "yolo", "predict": "yolo", "read_results_csv": "yolo", "train_yolo": "yolo",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
