"""Forgetting a video: the impact (everything that derives from it), then, applied, its bytes and rows removed
from the lake, the dataset and model versions that used it tagged `tainted` (they stay readable as records), the
video on the forgotten list, and an audit row. Retention applies the same per scene by age."""

from __future__ import annotations

from datetime import UTC, date, datetime

from vision_assets.core.errors import InvalidOption
from vision_assets.core.lake import Lake, keys
from vision_assets.core.records import DatasetVersion
from vision_assets.core.registry.audit import current_actor, record_event
from vision_assets.core.registry.forgotten import forgotten_videos, mark_forgotten
from vision_assets.core.registry.lineage import video_lineage
from vision_assets.core.registry.mlflow_registry import CHAMPION, ModelRegistry

TAINTED_TAG = "tainted"
# Immutable records of what a dataset version was: they keep naming the video (as records), nothing else does.
KEPT_TABLES = frozenset({keys.DATASET_MANIFEST, keys.DATASET_LABELS, "audit"})


def tainted_marker_key(dataset_version: str) -> str:
    return f"{keys.dataset_folder(dataset_version)}/tainted.json"


def forget_video(registry: ModelRegistry, lake: Lake, model_name: str, video: str, reason: str, *, apply: bool,
                 action: str = "forget", run_tags: dict | None = None) -> dict:
    """The impact report; with apply, the removal. Returns the report with what was removed."""
    if not reason.strip():
        raise InvalidOption(object="forget", problem="needs a --reason (it is recorded in the audit trail)")
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
    derived = remove_derived(lake, sha, impact["partitions"], removed_rows.pop("_derived_blobs"))
    record_event(lake, action, f"video {sha}", reason, actor=actor,
                 details=f"{len(blobs)} blobs, {sum(removed_rows.values())} rows, {len(derived)} derived files; "
                         f"datasets {','.join(impact['dataset_versions']) or '-'}; models "
                         f"{','.join(m['version'] for m in impact['model_versions']) or '-'}")
    aliases = withdraw_tainted_aliases(registry, lake, model_name, actor=actor)
    report.update(applied=True, removed_blobs=len(blobs), removed_rows=removed_rows, removed_derived=len(derived),
                  aliases=aliases)
    return report


def withdraw_tainted_aliases(registry: ModelRegistry, lake: Lake, model_name: str, actor: str = "") -> dict:
    """A tainted version keeps no alias: the champion alias goes to the latest untainted version that passed the
    promotion gate (or to none, and the retrain that the forgotten video triggers makes the next champion); a
    tainted challenger is dropped. Returns {alias: (from version, to version or None)}, each one audited."""
    from vision_assets.core.registry.champion import GATE_TAG

    moved = {}
    versions = registry.all_versions(model_name)
    for alias, version in sorted(registry.aliases(model_name).items()):
        current = next((v for v in versions if str(v.version) == version), None)
        if current is None or not current.tags.get(TAINTED_TAG):
            continue
        replacement = None
        if alias == CHAMPION:
            clean = [v for v in versions if not v.tags.get(TAINTED_TAG) and v.tags.get(GATE_TAG) == "pass"]
            replacement = str(clean[-1].version) if clean else None
        with registry.write_lock():
            if replacement:
                registry.set_alias(model_name, alias, replacement)  # not promote(): never "replaced" a tainted one
            else:
                registry.client.delete_registered_model_alias(model_name, alias)
        moved[alias] = (version, replacement)
        record_event(lake, "alias_withdrawn", f"{model_name}@{alias} v{version}",
                     f"tainted: {current.tags[TAINTED_TAG]}", actor=actor or None,
                     details=f"{alias} is now " + (f"v{replacement} (latest untainted version that passed the gate)"
                                                   if replacement else "no version: the next clean training takes it"))
    return moved


def remove_derived(lake: Lake, sha: str, partitions: list[dict], blobs: list[str]) -> list[str]:
    """What was made from the video outside the tables: its partitions' labelling queues (images, COCO and Label
    Studio files naming it; the next mining pass rebuilds them from the remaining frames), its evaluation replays,
    and the error crops and previews its removed rows pointed at. Returns the keys removed."""
    removed = []
    for partition in partitions:
        folder = f"labeling_queue/{keys.partition_path({'scene': partition['scene'], 'day': partition['day']})}"
        if lake.exists(folder):
            removed += lake.fs.find(lake.path(folder))
            lake.fs.rm(lake.path(folder), recursive=True)
        marker = keys.mined_marker_key(partition["scene"], partition["day"])
        if lake.exists(marker):
            lake.fs.rm(lake.path(marker))
        previews = keys.preview_record_key(partition["scene"], partition["day"])
        if lake.exists(previews):  # contact sheets and drawn queues show the video's frames
            blobs = [*blobs, *lake.read_json(previews).get("keys", [])]
            lake.fs.rm(lake.path(previews))
    for replay in lake.fs.glob(lake.path("evaluations", "*", "replays", f"{sha[:16]}*")):
        lake.fs.rm(replay)
        removed.append(replay)
    for key in sorted(set(blobs)):
        if lake.exists(key):
            lake.fs.rm(lake.path(key))
            removed.append(key)
    return removed



def _scrub_tables(lake: Lake, shas: set[str]) -> dict:
    """Drop the videos' rows from every lake table (but the dataset versions' own records); the label file blobs
    only they used are returned under "_blobs" for removal."""
    removed: dict = {"_blobs": [], "_derived_blobs": []}
    dropped_counts: dict[tuple, dict[str, int]] = {}
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
                # Error crops and previews the removed rows point at go with them (frames and videos are in the
                # impact report already).
                for column in ("crop_key", "preview_key", "overlay_key"):
                    if column in df:
                        removed["_derived_blobs"] += [k for k in df.loc[hit, column].astype(str) if k.startswith("blobs/")]
                lake.write_table(table, df[~hit].reset_index(drop=True), partition)
                removed[table] = removed.get(table, 0) + int(hit.sum())
                dropped_counts.setdefault(tuple(partition.items()), {})[table] = int(hit.sum())
    removed["_blobs"] = [key for key, users in label_users.items() if key and users <= shas]
    _recount_qc_summaries(lake, dropped_counts)
    return removed


def _recount_qc_summaries(lake: Lake, dropped: dict[tuple, dict[str, int]]) -> None:
    """qc_summary holds counts, not rows: the forgotten video's kept, rejected and flagged labels come off them, so
    `summary` stops counting labels that no longer exist."""
    columns = {keys.QC_ANNOTATIONS: "kept", keys.QC_REJECTED: "rejected", keys.QC_FLAGGED: "flagged"}
    for partition_items, tables in dropped.items():
        partition = dict(partition_items)
        summary = lake.read_table(keys.QC_SUMMARY, partition)
        if summary is None or summary.empty:
            continue
        for table, column in columns.items():
            if tables.get(table) and column in summary:
                summary[column] = (summary[column] - tables[table]).clip(lower=0)
        lake.write_table(keys.QC_SUMMARY, summary, partition)


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
