"""Stage 4: immutable dataset versions, split by video, and the sensor that decides when to retrain."""

import hashlib

import dagster as dg
import pandas as pd

from vision_assets.core.datasets import (
    SplitConfig,
    build_manifest,
    dataset_version,
    gather_labelled_frames,
    publish_dataset,
    read_split_registry,
    record_splits,
    split_problems,
)
from vision_assets.defs.automation import IN_FLIGHT_STATUSES
from vision_assets.defs.frames import sampled_frames
from vision_assets.defs.labels import qc_annotations
from vision_assets.defs.markdown import md_table
from vision_assets.defs.resources import LakeResource, RetrainPolicyResource, TaxonomyResource

LATEST_DATASET = "datasets/latest.json"

TRAINING_ASSETS = ["dataset_split", "trained_checkpoint", "eval_report", "registered_model"]


class SplitSettings(dg.Config):
    train: float = 0.7
    val: float = 0.15
    group_by: str = "video"
    seed: int = 0


def latest_dataset(lake: LakeResource) -> dict | None:
    store = lake.lake()
    if not store.exists(LATEST_DATASET):
        return None
    version = store.read_json(LATEST_DATASET)["version"]
    return store.read_json(f"datasets/{version}/dataset.json")


def _video_sources(lake: LakeResource, frames) -> list[dict]:
    videos = lake.lake().read_tables("raw_videos", frames[["scene", "day"]].drop_duplicates().to_dict("records"))
    used = videos[videos["video_sha256"].isin(set(frames["video_sha256"]))]
    return used[["video_sha256", "source_name", "scene", "day", "source_size"]].drop_duplicates("video_sha256").to_dict("records")


@dg.asset(
    deps=[sampled_frames, qc_annotations],
    group_name="datasets",
    kinds={"parquet", "yolo"},
    owners=["team:vision-ml"],
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec("no_video_in_two_splits", asset="dataset_split", blocking=True,
                          description="No video (or scene, when grouping by scene) has frames in two splits, in this "
                                      "version or against the split any earlier version gave it."),
        dg.AssetCheckSpec("splits_not_empty", asset="dataset_split", blocking=True,
                          description="Train, val and test each hold at least one video."),
    ],
    description=(
        "An immutable dataset version: every QC-passed labelled frame with its split, grouped by video so no "
        "footage crosses train/val/test, and a video keeps its split across versions. The version is a hash of "
        "the content; the same content gives the same version. Exported in Ultralytics' layout (links to the "
        "lake's JPEGs, no copies). Only a version that passes its checks becomes the latest."
    ),
)
def dataset_split(context: dg.AssetExecutionContext, config: SplitSettings, lake: LakeResource, taxonomy: TaxonomyResource):
    store = lake.lake()
    frames, labels, report = gather_labelled_frames(store, taxonomy.class_names)
    split = SplitConfig(train=config.train, val=config.val, group_by=config.group_by, seed=config.seed)
    group_column = "video_sha256" if split.group_by == "video" else "scene"
    groups = frames[group_column].nunique() if len(frames) else 0
    if groups < 3:
        raise dg.Failure(f"{groups} labelled {split.group_by}(s) with QC-passed frames in {store.root}: "
                         f"train, val and test need at least 3")
    registry = read_split_registry(store, split.group_by)
    manifest = build_manifest(frames, labels, split, registry)
    version = dataset_version(manifest, labels, taxonomy.class_names, split)
    provenance = {"label_versions_considered": report["label_versions_considered"],
                  "label_files": report["label_files"], "video_sources": _video_sources(lake, frames)}
    record = publish_dataset(store, manifest, labels, taxonomy.class_names, split, version, provenance)
    problems = split_problems(manifest, registry, split.group_by)
    usable = not any(problems.values())
    if usable:
        record_splits(store, split.group_by, manifest, version)
        store.write_json(LATEST_DATASET, {"version": version})
    counts = pd.DataFrame(record["counts"]).T.reset_index(names="split")
    context.log.info(f"dataset {version}: {len(manifest)} frames, {len(labels)} boxes, usable={usable}")
    yield dg.Output(
        record,
        metadata={
            "dataset_version": version,
            "dagster/row_count": len(manifest),
            "boxes": len(labels),
            "videos": len(record["videos"]),
            "splits": dg.MetadataValue.md(md_table(counts)),
            "excluded_partitions": dg.MetadataValue.json(report["excluded_partitions"]),
            "frames_dropped_by_qc": report.get("frames_dropped_by_qc", 0),
            "duplicate_video_frames": report.get("duplicate_video_frames", 0),
            "data_yaml": dg.MetadataValue.path(record["data_yaml"]),
        },
        data_version=dg.DataVersion(version),
    )
    crossing = problems["groups_in_two_splits"] + problems["groups_moved_since_earlier_versions"]
    yield dg.AssetCheckResult(
        check_name="no_video_in_two_splits",
        passed=not crossing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={k: dg.MetadataValue.json(v[:50]) for k, v in problems.items() if k != "empty_splits"}
        | {"group_by": split.group_by},
    )
    yield dg.AssetCheckResult(
        check_name="splits_not_empty",
        passed=not problems["empty_splits"],
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"empty_splits": dg.MetadataValue.json(problems["empty_splits"]),
                  "counts": dg.MetadataValue.json(record["counts"])},
    )


# dagster.yaml limits runs with this tag to one at a time: a dataset version, its training and its
# registration must not interleave with another run's.
TRAINING_RUN_TAGS = {"vision/pipeline": "training"}
training_job = dg.define_asset_job("train_and_register", selection=dg.AssetSelection.assets(*TRAINING_ASSETS),
                                   tags=TRAINING_RUN_TAGS,
                                   description="New dataset version, training, evaluation, registration.")


def new_label_count(lake: LakeResource) -> tuple[int, list[str]]:
    """QC-passed labels in passing partitions whose label version the latest dataset does not contain."""
    summaries = lake.lake().read_tables("qc_summary")
    if summaries.empty:
        return 0, []
    passing = summaries[summaries["passed"].astype(bool)]
    previous = latest_dataset(lake)
    known = set(previous.get("label_versions_considered", previous["label_versions"])) if previous else set()
    fresh = passing[~passing["label_version"].isin(known)]
    return int(fresh["kept"].sum()), sorted(passing["label_version"].tolist())


@dg.sensor(job=training_job, minimum_interval_seconds=120, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts a new dataset version and training run once enough new QC-passed labels arrived "
                       "since the latest dataset version.")
def retrain_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, retrain_policy: RetrainPolicyResource):
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("qc_annotations"),
                              after_storage_id=int(context.cursor) if context.cursor else None),
        limit=1000, ascending=True,
    ).records
    if context.cursor and not records:
        return dg.SkipReason("no new QC results since the last check")
    in_flight = context.instance.get_runs(dg.RunsFilter(job_name=training_job.name, statuses=IN_FLIGHT_STATUSES), limit=1)
    if in_flight:
        return dg.SkipReason(f"training run {in_flight[0].run_id} is still in progress")
    cursor = str(records[-1].storage_id) if records else context.cursor
    count, versions = new_label_count(lake)
    if count < retrain_policy.min_new_labels:
        return dg.SensorResult(skip_reason=f"{count} new QC-passed labels (< {retrain_policy.min_new_labels})", cursor=cursor)
    run_key = hashlib.sha256("|".join(versions).encode()).hexdigest()[:16]
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"labels-{run_key}", tags={"vision/new_labels": str(count)})],
                           cursor=cursor)
