"""Retrain a checkpoint from its record alone, in a fresh work folder, and compare the two side by side.

"Identical" means the same weights: `weights_sha256` (the model's tensors, see weights.py), since the .pt file
also pickles the date it was written. The rerun logs nothing to MLflow and stores nothing in the lake: it is an
audit, not a new model."""

from __future__ import annotations

import uuid
from pathlib import Path

from vision_assets.core.datasets.export import local_data_yaml
from vision_assets.core.errors import VisionError
from vision_assets.core.lake import Lake, keys, sha256_file
from vision_assets.core.records import DatasetVersion
from vision_assets.core.training.environment import (
    distribution_lock,
    environment_differences,
    environment_snapshot,
    git_state,
    resolve_device,
)
from vision_assets.core.training.weights import weights_sha256
from vision_assets.core.training.yolo import TrainConfig, train_yolo

EPOCH_COLUMNS = ("train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/mAP50-95(B)")


def find_record(lake: Lake, fingerprint: str | None = None, checkpoint_sha256: str | None = None) -> dict:
    """A checkpoint record by fingerprint (MLflow's `fingerprint` tag) or, failing that, by checkpoint hash."""
    if fingerprint and lake.exists(keys.checkpoint_record_key(fingerprint)):
        return lake.read_json(keys.checkpoint_record_key(fingerprint))
    if checkpoint_sha256 and lake.is_local:
        for path in sorted(lake.local_path("checkpoints").glob("*.json")):
            record = lake.read_json(f"checkpoints/{path.name}")
            if record.get("checkpoint_sha256") == checkpoint_sha256:
                return record
    raise LookupError(f"no checkpoint record for fingerprint {fingerprint} / checkpoint {checkpoint_sha256} in "
                      f"{lake.root}")


class TaintedReproduction(VisionError, LookupError):
    """The dataset version used a video someone asked to delete: retraining it would silently train on less."""


def _refuse_forgotten(lake: Lake, version: str, dataset: DatasetVersion) -> None:
    from vision_assets.core.registry.forgotten import describe_forget, forget_record

    records = [r for r in (forget_record(lake, sha) for sha in dataset.videos or []) if r]
    if records:
        raise TaintedReproduction(f"dataset version {version} is tainted: it used forgotten footage, so it cannot be "
                                  "reproduced as it was (training without it is a new model, not a reproduction): "
                                  + "; ".join(describe_forget(r) for r in records))


def reproduce(lake: Lake, record: dict, work_dir: Path, *, evaluate: bool = True) -> dict:
    dataset_key = keys.dataset_record_key(record["dataset_version"])
    if not lake.exists(dataset_key):
        raise LookupError(f"dataset version {record['dataset_version']} is not in {lake.root}: cannot retrain")
    dataset = DatasetVersion.from_json(lake.read_json(dataset_key))
    _refuse_forgotten(lake, record["dataset_version"], dataset)
    config = TrainConfig.from_dict(record["config"])
    device = resolve_device(config.device)
    differences = _differences(lake, record, device, work_dir)

    run_dir = work_dir / "reproduce" / f"{record['fingerprint']}-{uuid.uuid4().hex[:8]}"
    result = train_yolo(local_data_yaml(lake, dataset, work_dir / "cache"), config, run_dir)
    original_weights = lake.local_copy(record["checkpoint_path"], work_dir / "checkpoints")
    original_sha = record.get("weights_sha256") or weights_sha256(Path(original_weights))
    rerun_sha = weights_sha256(result.weights_path)
    report = {
        "fingerprint": record["fingerprint"], "dataset_version": record["dataset_version"],
        "original_sha256": original_sha, "rerun_sha256": rerun_sha, "identical": original_sha == rerun_sha,
        "original_checkpoint_sha256": record["checkpoint_sha256"],
        "rerun_checkpoint_sha256": sha256_file(result.weights_path),
        "environment_differences": differences,
        "epochs": _epochs_side_by_side(record.get("epoch_metrics") or [], result.epochs),
        "best_epoch": {"original": record.get("best_epoch"), "rerun": result.best_epoch},
        "rerun_folder": str(run_dir),
    }
    if evaluate:
        report["test_metrics"] = _test_metrics(lake, record, dataset, Path(original_weights), result.weights_path,
                                               work_dir, config.imgsz, device)
    return report


def _differences(lake: Lake, record: dict, device: str, work_dir: Path) -> list[str]:
    recorded = record.get("environment") or {}
    lock_key = recorded.get("lock_key")
    lock = lake.local_copy(lock_key, work_dir / "cache").read_text() if lock_key and lake.exists(lock_key) else None
    out = environment_differences(recorded, lock, environment_snapshot(device), distribution_lock())
    git, recorded_git = git_state(), record.get("git") or {}
    if recorded_git.get("git_head") and recorded_git["git_head"] != git["git_head"]:
        out.append(f"git commit: {recorded_git['git_head']} -> {git['git_head']}")
    if recorded_git and (recorded_git.get("git_dirty"), recorded_git.get("git_diff_sha256")) != \
            (git["git_dirty"], git["git_diff_sha256"]):
        out.append(f"uncommitted changes: diff {recorded_git.get('git_diff_sha256')} -> {git['git_diff_sha256']}")
    manifest, wanted = record.get("dataset_manifest"), record.get("dataset_manifest_sha256")
    if manifest and wanted:
        have = sha256_file(lake.local_copy(manifest, work_dir / "cache")) if lake.exists(manifest) else None
        if have != wanted:
            out.append(f"dataset manifest {manifest}: {wanted} -> {have}")
    return out


def _epochs_side_by_side(original: list[dict], rerun: list[dict]) -> list[dict]:
    rows = []
    for index in range(max(len(original), len(rerun))):
        before = original[index] if index < len(original) else {}
        after = rerun[index] if index < len(rerun) else {}
        rows.append({"epoch": index + 1,
                     "original": {k: before.get(k) for k in EPOCH_COLUMNS},
                     "rerun": {k: after.get(k) for k in EPOCH_COLUMNS}})
    return rows


def _test_metrics(lake: Lake, record: dict, dataset: DatasetVersion, original: Path, rerun: Path, work_dir: Path,
                  imgsz: int, device: str) -> dict:
    # Imported here: evaluation imports training, not back.
    from vision_assets.core.evaluation.checkpoint_report import EvaluationConfig, evaluate

    names = ("map50_95", "map50", "precision", "recall")
    stored = keys.report_folder(record["checkpoint_sha256"]) + "/eval.json"
    # Detection only: both sides at the same configured confidence, stored by key like any evaluation.
    config = EvaluationConfig(choose_confidence=False, tracking=False, replays=False)

    def overall(weights: Path, sha: str) -> dict:
        return evaluate(lake, dataset, weights, checkpoint_sha256=sha, imgsz=imgsz, work_dir=work_dir, device=device,
                        config=config)[0].overall

    before = lake.read_json(stored)["overall"] if lake.exists(stored) else \
        overall(original, record["checkpoint_sha256"])
    after = overall(rerun, sha256_file(rerun))
    return {"original": {k: before.get(k) for k in names}, "rerun": {k: after.get(k) for k in names}}
