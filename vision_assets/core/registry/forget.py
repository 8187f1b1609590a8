"""Forgetting a video: the impact (everything that derives from it), then, applied, its bytes and rows removed
from the lake, the dataset and model versions that used it tagged `tainted` (they stay readable as records), the
video on the forgotten list, and an audit row. Retention applies the same per scene by age."""

from __future__ import annotations

from datetime import UTC, date, datetime

from vision_assets.core.lake import Lake, keys
from vision_assets.core.records import DatasetVersion
from vision_assets.core.registry.audit import current_actor, record_event
from vision_assets.core.registry.forgotten import forgotten_videos, mark_forgotten
from vision_assets.core.registry.lineage import video_lineage
from vision_assets.core.registry.mlflow_registry import ModelRegistry

TAINTED_TAG = "tainted"
# Immutable records of what a dataset version was: they keep naming the video (as records), nothing else does.
KEPT_TABLES = frozenset({keys.DATASET_MANIFEST, keys.DATASET_LABELS, "audit"})


def tainted_marker_key(dataset_version: str) -> str:
    return f"{keys.dataset_folder(dataset_version)}/tainted.json"


def forget_video(registry: ModelRegistry, lake: Lake, model_name: str, video: str, reason: str, *, apply: bool,
                 action: str = "forget", run_tags: dict | None = None) -> dict:
    """The impact report; with apply, the removal. Returns the report with what was removed."""
    if not reason.strip():
        raise ValueError("forget needs a --reason (it is recorded in the audit trail)")
    impact = video_lineage(registry, lake, model_name, video)
    report = {"applied": False, **impact}
    if not apply:
        return report
    sha = impact["video"]["sha256"]
    actor = current_actor(run_tags)
    # The list first: a rerun racing with the removal already refuses the video.
    mark_forgotten(lake, sha, {"reason": reason, "actor": actor, "time": datetime.now(UTC).isoformat(),
                               "source_names": impact["video"]["source_names"], "action": action})
    removed_rows = _scrub_tables(lake, {sha})
    blobs = sorted(set(impact["video"]["keys"]) | set(impact["frames"]["keys"]) | set(removed_rows.pop("_blobs")))
    for key in blobs:
        if lake.exists(key):
            lake.fs.rm(lake.path(key))
    from vision_assets.core.mining.partition import queue_files_of_video  # the labelling queues' copies of it

    for path in queue_files_of_video(lake, sha, impact["frames"]["keys"]):
        lake.fs.rm(path)
    for version in impact["dataset_versions"]:
        marker = tainted_marker_key(version)
        earlier = lake.read_json(marker) if lake.exists(marker) else {"videos": []}
        lake.write_json(marker, {"videos": sorted(set(earlier["videos"]) | {sha}), "reason": reason})
    for model in impact["model_versions"]:
        registry.client.set_model_version_tag(model_name, model["version"], TAINTED_TAG,
                                              f"video {sha[:16]} {action}: {reason}"[:4000])
    record_event(lake, action, f"video {sha}", reason, actor=actor,
                 details=f"{len(blobs)} blobs, {sum(removed_rows.values())} rows; datasets "
                         f"{','.join(impact['dataset_versions']) or '-'}; models "
                         f"{','.join(m['version'] for m in impact['model_versions']) or '-'}")
    report.update(applied=True, removed_blobs=len(blobs), removed_rows=removed_rows)
    return report


def _scrub_tables(lake: Lake, shas: set[str]) -> dict:
    """Drop the videos' rows from every lake table (but the dataset versions' own records); the label file blobs
    only they used are returned under "_blobs" for removal."""
    removed: dict = {"_blobs": []}
    tables = sorted({p.rstrip("/").rsplit("/", 1)[-1] for p in lake.fs.ls(lake.path("tables"), detail=False)}) \
        if lake.exists("tables") else []
    label_users: dict[str, set[str]] = {}
    for table in tables:
        if table in KEPT_TABLES:
            continue
        for partition in lake.table_partitions(table):
            df = lake.read_table(table, partition)
            if df is None or "video_sha256" not in df:
                continue
            if table == keys.LABEL_SOURCES and "stored_path" in df:
                for key, user in zip(df["stored_path"].astype(str), df["video_sha256"].astype(str)):
                    label_users.setdefault(key, set()).add(user)
            hit = df["video_sha256"].isin(shas)
            if hit.any():
                lake.write_table(table, df[~hit].reset_index(drop=True), partition)
                removed[table] = removed.get(table, 0) + int(hit.sum())
    removed["_blobs"] = [key for key, users in label_users.items() if key and users <= shas]
    return removed


def dataset_uses_forgotten(lake: Lake, record: DatasetVersion | None) -> list[str]:
    """The forgotten videos a dataset record still names (the latest version must be rebuilt without them)."""
    if not record:
        return []
    return sorted(set(record.videos) & forgotten_videos(lake))


def retention_due(lake: Lake, retention_days: dict[str, int], default_days: int | None, today: date) -> list[dict]:
    """Videos older than their scene's retention (by the partition's day): [{video_sha256, scene, day, age_days}]."""
    raw = lake.read_tables(keys.RAW_VIDEOS)
    if raw.empty:
        return []
    forgotten = forgotten_videos(lake)
    due = []
    for row in raw.drop_duplicates("video_sha256").itertuples():
        days = retention_days.get(row.scene, default_days)
        if days is None or not row.video_sha256 or row.video_sha256 in forgotten:
            continue
        age = (today - date.fromisoformat(str(row.day))).days
        if age > int(days):
            due.append({"video_sha256": row.video_sha256, "scene": row.scene, "day": str(row.day), "age_days": age})
    return due


def apply_retention(registry: ModelRegistry, lake: Lake, model_name: str, retention_days: dict[str, int],
                    default_days: int | None, today: date, run_tags: dict | None = None) -> list[dict]:
    """Forget every video past its scene's retention period (audited as retention_delete)."""
    applied = []
    for item in retention_due(lake, retention_days, default_days, today):
        days = retention_days.get(item["scene"], default_days)
        forget_video(registry, lake, model_name, item["video_sha256"],
                     f"retention: scene {item['scene']} keeps {days} days, footage of {item['day']} is "
                     f"{item['age_days']} days old", apply=True, action="retention_delete", run_tags=run_tags)
        applied.append(item)
    return applied
