"""Lineage: which exact video bytes, label files and dataset version made a registered model version."""

from __future__ import annotations

from vision_assets.core.lake import Lake, keys
from vision_assets.core.registry.mlflow_registry import ModelRegistry


def model_lineage(registry: ModelRegistry, lake: Lake, model_name: str, version: str | None = None) -> dict | None:
    """lineage_report for `version` of the model, or for its champion; None when there is no champion."""
    found = registry.client.get_model_version(model_name, version) if version else registry.champion(model_name)
    if found is None:
        return None
    # The dataset version's own immutable record, not the tables later runs may have rewritten.
    dataset = lake.read_json(keys.dataset_record_key(found.tags["dataset_version"]))
    return lineage_report(model_name, found, dataset)


def lineage_report(model_name: str, version, dataset: dict) -> dict:
    """The model version (an MLflow ModelVersion) and what its dataset record says it was made from."""
    return {
        "model": {"name": model_name, "version": str(version.version), "mlflow_run_id": version.run_id,
                  "tags": dict(version.tags)},
        "dataset": {k: dataset.get(k) for k in ("version", "counts", "label_versions", "split_config")},
        # Records written before per-video sources were kept list the digests only.
        "videos": dataset.get("video_sources", [{"video_sha256": v} for v in dataset["videos"]]),
        "label_files": dataset.get("label_files", []),
    }
