"""Stage 4: immutable dataset versions, split by video, and the sensor that decides when to retrain."""

import hashlib

import dagster as dg

from vision_assets.defs import keys
from vision_assets.defs.automation import IN_FLIGHT_STATUSES
from vision_assets.defs.frames import sampled_frames
from vision_assets.defs.labels import qc_annotations
from vision_assets.defs.markdown import lake_location, md_table
from vision_assets.defs.resources import (
    LakeResource,
    MlflowResource,
    MonitoringPolicyResource,
    RetrainPolicyResource,
    TaxonomyResource,
)

# The core (pandas, the split code) is imported inside the asset and sensor bodies: loading the code location
# should cost little more than importing dagster.
TRAINING_ASSETS = [keys.DATASET_SPLIT, keys.TRAINED_CHECKPOINT, keys.EVAL_REPORT, keys.REGISTERED_MODEL]


class SplitSettings(dg.Config):
    train: float = 0.7
    val: float = 0.15
    group_by: str = "video"
    seed: int = 0


@dg.asset(
    deps=[sampled_frames, qc_annotations],
    group_name=keys.MODEL_GROUP,
    kinds={"parquet", "yolo"},
    owners=["team:vision-ml"],
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec(keys.NO_VIDEO_IN_TWO_SPLITS, asset=keys.DATASET_SPLIT, blocking=True,
                          description="No video (or scene, when grouping by scene) has frames in two splits, in this "
                                      "version or against the split any earlier version gave it."),
        dg.AssetCheckSpec(keys.SPLITS_NOT_EMPTY, asset=keys.DATASET_SPLIT, blocking=True,
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
    import pandas as pd

    from vision_assets.core.datasets import NotEnoughGroups, SplitConfig, build_dataset_version

    split = SplitConfig(train=config.train, val=config.val, group_by=config.group_by, seed=config.seed)
    try:
        build = build_dataset_version(lake.lake(), taxonomy.class_names, split)
    except NotEnoughGroups as error:
        raise dg.Failure(str(error)) from error
    record, report, problems = build.record, build.report, build.problems
    counts = pd.DataFrame(record.counts).T.reset_index(names="split")
    context.log.info(f"dataset {record.version}: {len(build.manifest)} frames, {len(build.labels)} boxes, "
                     f"usable={build.usable}")
    yield dg.Output(
        record,
        metadata={
            "dataset_version": record.version,
            "dagster/row_count": len(build.manifest),
            "boxes": len(build.labels),
            "videos": len(record.videos),
            "splits": dg.MetadataValue.md(md_table(counts)),
            "excluded_partitions": dg.MetadataValue.json(report["excluded_partitions"]),
            "frames_dropped_by_qc": report.get("frames_dropped_by_qc", 0),
            "duplicate_video_frames": report.get("duplicate_video_frames", 0),
            **lake_location(lake.lake(), record.data_yaml),
        },
        data_version=dg.DataVersion(record.version),
    )
    crossing = problems["groups_in_two_splits"] + problems["groups_moved_since_earlier_versions"]
    yield dg.AssetCheckResult(
        check_name=keys.NO_VIDEO_IN_TWO_SPLITS,
        passed=not crossing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={k: dg.MetadataValue.json(v[:50]) for k, v in problems.items() if k != "empty_splits"}
        | {"group_by": split.group_by},
    )
    yield dg.AssetCheckResult(
        check_name=keys.SPLITS_NOT_EMPTY,
        passed=not problems["empty_splits"],
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"empty_splits": dg.MetadataValue.json(problems["empty_splits"]),
                  "counts": dg.MetadataValue.json(record.counts)},
    )


# dagster.yaml limits runs with this tag to one at a time: a dataset version, its training and its
# registration must not interleave with another run's.
TRAINING_RUN_TAGS = {"vision/pipeline": "training"}
training_job = dg.define_asset_job("train_and_register", selection=dg.AssetSelection.assets(*TRAINING_ASSETS),
                                   tags=TRAINING_RUN_TAGS,
                                   description="New dataset version, training, evaluation, registration.")


ONLINE_BREACHES_TAG = "vision/online_breaches"  # the scene-days (with champion and label version) a retrain is for
RETRAIN_REASON_TAG = "vision/retrain_reason"


@dg.sensor(job=training_job, minimum_interval_seconds=120, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts a new dataset version and training run once enough new QC-passed labels arrived "
                       "since the latest dataset version, or when returned labels show the champion's online "
                       "precision or recall on a scene-day below the project's monitoring floor (once per such "
                       "breach).")
def retrain_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, retrain_policy: RetrainPolicyResource,
                   monitoring_policy: MonitoringPolicyResource, mlflow: MlflowResource):
    from vision_assets.core.datasets import latest_dataset, new_label_count
    from vision_assets.core.registry.forget import dataset_uses_forgotten

    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=keys.QC_ANNOTATIONS,
                              after_storage_id=int(context.cursor) if context.cursor else None),
        limit=1000, ascending=True,
    ).records
    # Breaches are read from the monitoring table on every tick: the labels' QC results may have been seen by an
    # earlier tick, before footage_monitoring measured the champion on them.
    breaches = new_online_breaches(context, lake, monitoring_policy, mlflow)
    if context.cursor and not records and not breaches and not dataset_uses_forgotten(lake.lake(), latest_dataset(lake.lake())):
        return dg.SkipReason("no new QC results since the last check")
    in_flight = context.instance.get_runs(dg.RunsFilter(job_name=training_job.name, statuses=IN_FLIGHT_STATUSES), limit=1)
    if in_flight:
        return dg.SkipReason(f"training run {in_flight[0].run_id} is still in progress")
    cursor = str(records[-1].storage_id) if records else context.cursor
    count, versions = new_label_count(lake.lake())
    if breaches:
        return dg.SensorResult(run_requests=[online_retrain_request(breaches, count)], cursor=cursor)
    if count < retrain_policy.min_new_labels:
        return dg.SensorResult(skip_reason=f"{count} new QC-passed labels (< {retrain_policy.min_new_labels})", cursor=cursor)
    run_key = hashlib.sha256("|".join(versions).encode()).hexdigest()[:16]
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"labels-{run_key}", tags={"vision/new_labels": str(count)})],
                           cursor=cursor)


def new_online_breaches(context: dg.SensorEvaluationContext, lake: LakeResource, policy: MonitoringPolicyResource,
                        mlflow: MlflowResource) -> list[dict]:
    """The current champion's online-rate breaches (core.monitoring.online) no earlier retrain was requested for."""
    from vision_assets.core.lake import keys as lake_keys
    from vision_assets.core.monitoring.online import breach_id, breached_partitions

    monitoring = lake.lake().read_tables(lake_keys.FOOTAGE_MONITORING)
    if monitoring.empty or "online_precision" not in monitoring:
        return []
    floors = dict(min_precision=policy.min_online_precision, min_recall=policy.min_online_recall,
                  min_boxes=policy.min_online_boxes)
    earlier = context.instance.get_runs(dg.RunsFilter(job_name=training_job.name), limit=200)
    requested = {b for run in earlier for b in run.tags.get(ONLINE_BREACHES_TAG, "").split(",") if b}
    # The champion is asked only when some row, measured against whichever version, breaches a floor with no retrain
    # requested for it: asking MLflow costs seconds in a fresh process (import, store), and most ticks find none.
    measured = monitoring["champion_version"].astype(str).unique()
    if all(breach_id(b) in requested for version in measured for b in breached_partitions(monitoring, version, **floors)):
        return []
    champion = mlflow.registry().champion(mlflow.model_name)
    if champion is None:
        return []
    breaches = breached_partitions(monitoring, str(champion.version), **floors)
    return [b for b in breaches if breach_id(b) not in requested]


def online_retrain_request(breaches: list[dict], new_labels: int) -> dg.RunRequest:
    """One retrain for every new breach (the training job trains on all labels at once); its run key is the set of
    breaches, so a breach asks for one retrain however often the sensor ticks."""
    from vision_assets.core.monitoring.online import breach_id

    ids = [breach_id(b) for b in breaches]
    reason = "; ".join(f"{b['scene']}/{b['day']}: {', '.join(b['reasons'])} (champion v{b['champion_version']})"
                       for b in breaches)
    return dg.RunRequest(run_key=f"online-{hashlib.sha256(','.join(sorted(ids)).encode()).hexdigest()[:16]}",
                         tags={RETRAIN_REASON_TAG: reason[:4000], ONLINE_BREACHES_TAG: ",".join(ids),
                               "vision/new_labels": str(new_labels)})
