"""The evaluation of one trained checkpoint on its dataset version's test split, stored beside its error samples."""

from __future__ import annotations

from pathlib import Path

from vision_assets.core.evaluation.report import error_montage, evaluate_checkpoint
from vision_assets.core.lake import Lake, keys

TEST_METRICS = ("map50_95", "map50", "map75", "precision", "recall")


def evaluate_checkpoint_record(lake: Lake, checkpoint: dict, dataset: dict, *, work_dir: Path,
                               device: str = "auto") -> tuple[dict, bytes | None]:
    """(report, error montage JPEG). The report (JSON-ready, no tables) and the montage are written under the
    checkpoint's report folder; the report names the montage by lake key."""
    weights = lake.local_copy(checkpoint["checkpoint_path"], work_dir / "checkpoints")
    full = evaluate_checkpoint(lake, dataset, Path(weights), work_dir=work_dir, imgsz=checkpoint["config"]["imgsz"],
                               device=device)
    montage = error_montage(full)
    folder = keys.report_folder(checkpoint["checkpoint_sha256"])
    montage_key = lake.write_bytes(f"{folder}/errors.jpg", montage) if montage else None
    report = {k: v for k, v in full.items() if k not in ("detections", "ground_truth", "test")}
    report.update(checkpoint_sha256=checkpoint["checkpoint_sha256"], error_samples=montage_key)
    lake.write_json(f"{folder}/eval.json", report)
    return report, montage
