"""What the lake and the registry hold, in one dict: the `vision-assets summary` (and end of `demo`) report."""

from __future__ import annotations

from vision_assets.core.lake import Lake, keys
from vision_assets.core.registry.forgotten import describe_forget, forget_record, forgotten_videos
from vision_assets.core.registry.mlflow_registry import DEFAULT_MODEL_NAME, ModelRegistry


def collect_summary(lake: Lake, registry: ModelRegistry, model_name: str = DEFAULT_MODEL_NAME) -> dict:
    """Videos, frames and annotations in the lake; the latest dataset version; the model trained on it and the
    champion, when there are any."""
    summary = lake_counts(lake)
    if lake.exists(keys.LATEST_DATASET):
        summary["dataset_version"] = lake.read_json(keys.LATEST_DATASET)["version"]
    summary.update(model_entries(registry, model_name, summary.get("dataset_version", "-")))
    forgotten = sorted(forgotten_videos(lake))
    if forgotten:
        records = [r for r in (forget_record(lake, sha) for sha in forgotten) if r]
        summary["forgotten"] = {"videos": len(forgotten),
                                "records": [describe_forget(r) for r in sorted(records, key=lambda r: str(r.get("time")))]}
    return summary


def lake_counts(lake: Lake) -> dict:
    """Counts over every partition of raw_videos, sampled_frames and qc_summary."""
    videos = lake.read_tables(keys.RAW_VIDEOS)
    frames = lake.read_tables(keys.SAMPLED_FRAMES)
    qc = lake.read_tables(keys.QC_SUMMARY)
    return {
        "videos": int(len(videos)),
        "video_outcomes": videos["outcome"].value_counts().to_dict() if len(videos) else {},
        "scenes_x_days": int(videos[["scene", "day"]].drop_duplicates().shape[0]) if len(videos) else 0,
        "scenes": sorted(videos["scene"].unique().tolist()) if len(videos) else [],
        "frames": int(len(frames)),
        "annotations_kept": int(qc["kept"].sum()) if len(qc) else 0,
        "annotations_rejected": int(qc["rejected"].sum()) if len(qc) else 0,
    }


def model_entries(registry: ModelRegistry, model_name: str, dataset_version: str) -> dict:
    """{"model": the version trained on dataset_version, "champion": the champion}, leaving out either if none."""
    if not registry.store_exists():  # reading never creates the registry's database
        return {}
    champion = registry.champion(model_name)
    latest = registry.find_version(model_name, "dataset_version", dataset_version)
    entries = {}
    for label, version in (("model", latest), ("champion", champion)):
        if version is not None:
            entries[label] = {"name": model_name, "version": str(version.version),
                              "map50_95": float(version.tags.get("map50_95", "nan")),
                              "map50": float(version.tags.get("map50", "nan")),
                              "dataset_version": version.tags.get("dataset_version")}
            if version.tags.get("champion_decision"):
                entries[label]["decision"] = version.tags["champion_decision"]
            if version.tags.get("tainted"):
                entries[label]["tainted"] = version.tags["tainted"]
    return entries
