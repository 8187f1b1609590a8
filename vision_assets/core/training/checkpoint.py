"""A checkpoint for a dataset version: trained once per (dataset version, config, code), logged to MLflow,
stored in the lake by sha256, with a record that names it by lake key."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vision_assets.core.lake import Lake, keys, sha256_file
from vision_assets.core.training.environment import code_version, git_commit, resolve_device
from vision_assets.core.training.yolo import TrainConfig, train_yolo

if TYPE_CHECKING:  # the registry package depends on training (champion re-evaluation), not the other way
    from vision_assets.core.registry import ModelRegistry


def existing_checkpoint(lake: Lake, config: TrainConfig, dataset_version: str) -> dict | None:
    """The record of a checkpoint already trained on this dataset version with this config and code."""
    record_key = keys.checkpoint_record_key(config.fingerprint(dataset_version))
    return lake.read_json(record_key) if lake.exists(record_key) else None


def train_checkpoint(lake: Lake, registry: ModelRegistry, dataset: dict, config: TrainConfig, work_dir: Path,
                     run_tags: dict[str, str], on_epoch: Callable[[int, dict], None] | None = None) -> dict:
    """Train on the dataset version's export, log params, per-epoch metrics and artifacts to one MLflow run, store
    the weights as a blob and the record beside it (the record last: a crash before it means train again)."""
    fingerprint = config.fingerprint(dataset["version"])
    device = resolve_device(config.device)
    data_yaml = lake.local_path(dataset["data_yaml"])
    tags = {"dataset_version": dataset["version"], **run_tags, "git_commit": git_commit(),
            "code_version": code_version(), "fingerprint": fingerprint}
    started = time.monotonic()

    def epoch_done(epoch: int, metrics: dict) -> None:
        registry.log_metrics(run_id, metrics, step=epoch)
        if on_epoch:
            on_epoch(epoch, metrics)

    with registry.run(run_name=f"train-{dataset['version']}", tags=tags) as run_id:
        registry.log_params(run_id, {**config.as_dict(), "device_resolved": device, **tags})
        result = train_yolo(data_yaml, config, work_dir / "runs" / fingerprint, on_epoch=epoch_done)
        registry.log_artifact(run_id, result.weights_path, "weights")
        for extra in ("results.csv", "args.yaml"):
            if (result.run_dir / extra).exists():
                registry.log_artifact(run_id, result.run_dir / extra, "training")
        registry.log_artifact(run_id, data_yaml, "dataset")
    digest, stored, _ = lake.put_blob_file(keys.CHECKPOINT_BLOBS, result.weights_path, ".pt",
                                           digest=sha256_file(result.weights_path))
    record = {
        "fingerprint": fingerprint, "checkpoint_sha256": digest, "checkpoint_path": stored,
        "dataset_version": dataset["version"], "mlflow_run_id": run_id, "config": config.as_dict(),
        "device": result.device, "train_seconds": round(time.monotonic() - started, 1),
        "epochs": len(result.epochs), "last_epoch": result.epochs[-1] if result.epochs else {}, **tags,
    }
    lake.write_json(keys.checkpoint_record_key(fingerprint), record)
    return record
