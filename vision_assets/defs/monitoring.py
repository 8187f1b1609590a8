"""Stage 9: footage_monitoring, what the champion sees in each scene x day after delivery (issue 22).

Eager on new frames and on a new registered model: every ingested partition, labelled or not, is watched by the
current champion once one exists; a challenger, when the registry has one, runs in shadow on the same frames.
"""

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from vision_assets.core.lake import keys as lake_keys
from vision_assets.core.monitoring.thresholds import DRIFT_P_VALUE
from vision_assets.defs import keys
from vision_assets.defs.automation import eager_or_when_updated
from vision_assets.defs.checks import scene_day_check
from vision_assets.defs.frames import sampled_frames
from vision_assets.defs.hard_examples import hard_examples_job
from vision_assets.defs.markdown import md_table, mlflow_model_url, readable, report_page_link
from vision_assets.defs.partitions import lake_partition, scene_and_day, scene_day_key
from vision_assets.defs.resources import LakeResource, MlflowResource, MonitoringPolicyResource, TrainerResource

if TYPE_CHECKING:
    from vision_assets.core.monitoring.partition import Model

CHALLENGER = "challenger"


class MonitoringConfig(dg.Config):
    drift_p_value: float = DRIFT_P_VALUE  # below it the footage is out of the champion's training distribution
    permutations: int = 300
    canary_max_disagreement: float = 0.5  # a canary disagreeing with the champion on more boxes is rolled back
    seed: int = 0


def registry_model(mlflow: MlflowResource, lake: LakeResource, alias: str, imgsz: int) -> "tuple[Model, dict] | None":
    """The version behind an alias, its weights downloaded once per version, the operating point its package serves
    with, the videos of its dataset version, and its tags."""
    import pandas as pd

    from vision_assets.core.monitoring.online import served_config
    from vision_assets.core.monitoring.partition import Model

    registry = mlflow.registry()
    found = registry.by_alias(mlflow.model_name, alias)
    if found is None:
        return None
    cache = registry.download(mlflow.model_name, found.version, lake.work / "registry" / f"v{found.version}")
    weights = next(Path(cache).rglob("*.pt"))
    tags = dict(found.tags)
    trained: frozenset[str] = frozenset()
    if tags.get("dataset_manifest"):
        manifest = pd.read_parquet(lake.lake().local_copy(tags["dataset_manifest"], lake.work / "manifests"))
        trained = frozenset(manifest["video_sha256"].astype(str))
    return Model(str(found.version), weights, tags.get("checkpoint_sha256", ""), served_config(Path(cache), tags, imgsz),
                 trained), tags


@dg.asset(
    partitions_def=sampled_frames.partitions_def,
    # Not downstream of qc_annotations: every partition with frames is watched, whatever its QC says (a blocking QC
    # failure would skip it). Returned labels still make it due again (online false-alarm and miss rates).
    deps=[sampled_frames, keys.REGISTERED_MODEL],
    group_name=keys.FEEDBACK_GROUP,
    kinds={"pytorch", "parquet"},
    owners=["team:vision-ml"],
    code_version="2",
    automation_condition=eager_or_when_updated(keys.QC_ANNOTATIONS),
    check_specs=[
        scene_day_check(keys.FOOTAGE_IN_DISTRIBUTION, keys.FOOTAGE_MONITORING.to_user_string(),
                        "The partition's pooled backbone features are not told apart from the champion's training "
                        "frames by a two-sample MMD permutation test (WARN when p < the configured threshold)."),
        scene_day_check(keys.PREDICTIONS_STABLE, keys.FOOTAGE_MONITORING.to_user_string(),
                        "The champion's detections per frame stay inside the band of its training frames."),
        scene_day_check(keys.ONLINE_ACCURACY_ABOVE_FLOOR, keys.FOOTAGE_MONITORING.to_user_string(),
                        "On the partition's returned (QC-passed) labels, the champion's online precision and recall "
                        "at its served operating point stay above the project's monitoring floors (WARN below; the "
                        "retrain sensor then starts a retrain)."),
    ],
    description=(
        "The current champion watching one scene x day of footage, labelled or not: image statistics of the "
        "sampled frames (brightness, contrast, Laplacian sharpness, colour), the champion's detections per frame "
        "by class and confidence distribution, an embedding-drift score and p-value against the champion's "
        "training split (MMD with a permutation test on its pooled backbone features; the baseline is made once "
        "per champion checkpoint and cached in the lake), and, when the registry has a `challenger` alias, the "
        "challenger's disagreement with the champion on the same frames. When QC-passed labels came back for "
        "frames outside the champion's own dataset, its online precision and recall there (IoU 0.5, at the "
        "operating point its package serves with), per class with TP/FP/FN: 1 - precision is the online "
        "false-alarm rate, 1 - recall the miss rate. One summary row per partition in "
        "`tables/footage_monitoring/`. Runs on new frames, on returned labels and on every new registered model."
    ),
)
def footage_monitoring(context: dg.AssetExecutionContext, config: MonitoringConfig, lake: LakeResource,
                       mlflow: MlflowResource, trainer: TrainerResource, monitoring_policy: MonitoringPolicyResource):
    from vision_assets.core.monitoring.canary import CANARY, canary_failure, canary_scenes, rollback_canary
    from vision_assets.core.monitoring.partition import champion_baseline, monitor_partition

    scene, day = scene_and_day(context)
    found = registry_model(mlflow, lake, "champion", trainer.imgsz)
    if found is None:
        yield dg.MaterializeResult(metadata={"monitored": False, "reason": "no champion yet"})
        for name in (keys.FOOTAGE_IN_DISTRIBUTION, keys.PREDICTIONS_STABLE, keys.ONLINE_ACCURACY_ABOVE_FLOOR):
            # WARN like every other result of these checks: the UI colours a check by its latest result's severity.
            yield dg.AssetCheckResult(check_name=name, passed=True, severity=dg.AssetCheckSeverity.WARN,
                                      description="no champion yet: nothing to compare")
        return
    champion, tags = found
    # On a canary's scenes the canary runs beside the champion; elsewhere the challenger, when there is one.
    canary = mlflow.registry().by_alias(mlflow.model_name, CANARY)
    canary = ((registry_model(mlflow, lake, CANARY, trainer.imgsz) or (None,))[0]
              if canary and scene in canary_scenes(canary.tags) else None)
    challenger = canary or (registry_model(mlflow, lake, CHALLENGER, trainer.imgsz) or (None,))[0]
    challenger = challenger if challenger and challenger.version != champion.version else None
    store, imgsz = lake.lake(), int(tags.get("imgsz", trainer.imgsz))
    baseline = champion_baseline(store, champion, tags["dataset_manifest"], imgsz=imgsz, work_dir=lake.work,
                                 device=trainer.device)
    summary = monitor_partition(store, scene, day, champion, baseline, imgsz=imgsz, work_dir=lake.work,
                                device=trainer.device, challenger=challenger, permutations=config.permutations,
                                seed=config.seed)
    metadata = monitoring_metadata(summary, mlflow.model_name,
                                   lake_keys.table_key(lake_keys.FOOTAGE_MONITORING, lake_partition(scene, day)))
    if canary is not None:
        failure = canary_failure(summary, config.canary_max_disagreement, online_floors={
            "min_online_precision": monitoring_policy.min_online_precision,
            "min_online_recall": monitoring_policy.min_online_recall,
            "min_online_boxes": monitoring_policy.min_online_boxes})
        metadata.update(canary_version=canary.version, canary_verdict=failure or "passed")
        if failure:
            context.log.warning(f"canary v{canary.version} rolled back: {failure}")
            rollback_canary(mlflow.registry(), store, mlflow.model_name, canary.version, failure,
                            run_tags=dict(context.run.tags))
    pages = write_monitoring_pages(context, mlflow, store, [champion.version, challenger.version if challenger else None])
    if pages:
        metadata["monitoring_page"] = report_page_link(pages[0])
    yield dg.MaterializeResult(metadata=metadata)
    p_value = summary["drift_p_value"]
    drifted = p_value == p_value and p_value < config.drift_p_value  # NaN (under 2 frames): no verdict
    yield dg.AssetCheckResult(
        check_name=keys.FOOTAGE_IN_DISTRIBUTION, passed=not drifted, severity=dg.AssetCheckSeverity.WARN,
        description=(f"{'drift' if drifted else 'in distribution'}: MMD^2 {readable(summary['drift_score'])}, "
                     f"p = {readable(p_value)} (threshold {config.drift_p_value}, {summary['frames']} frames vs "
                     f"{summary['baseline_frames']} training frames of {summary['baseline_reference']})"),
        metadata={"drift_score": readable(summary["drift_score"]), "drift_p_value": readable(p_value),
                  "threshold": config.drift_p_value})
    rate, low, high = summary["detections_per_frame"], summary["detection_band_low"], summary["detection_band_high"]
    yield dg.AssetCheckResult(
        check_name=keys.PREDICTIONS_STABLE, passed=summary["predictions_stable"], severity=dg.AssetCheckSeverity.WARN,
        description=f"{readable(rate)} detections per frame; baseline band {readable(low)}-{readable(high)}",
        metadata={"detections_per_frame": readable(rate), "band_low": readable(low), "band_high": readable(high)})
    yield online_check(summary, monitoring_policy)


def online_check(summary: dict, policy: MonitoringPolicyResource) -> dg.AssetCheckResult:
    from vision_assets.core.monitoring.online import online_breaches

    floors = {"min_online_precision": policy.min_online_precision, "min_online_recall": policy.min_online_recall,
              "min_online_boxes": policy.min_online_boxes}
    if not summary["online_frames"]:
        return dg.AssetCheckResult(
            check_name=keys.ONLINE_ACCURACY_ABOVE_FLOOR, passed=True, severity=dg.AssetCheckSeverity.WARN,
            description="not judged: no QC-passed labels on frames outside the champion's own dataset", metadata=floors)
    breaches = online_breaches(summary, min_precision=policy.min_online_precision,
                               min_recall=policy.min_online_recall, min_boxes=policy.min_online_boxes)
    counts = (f"TP {summary['online_tp']}, FP {summary['online_fp']}, FN {summary['online_fn']} on "
              f"{summary['online_frames']} labelled frames at conf {summary['online_conf']:g}")
    return dg.AssetCheckResult(
        check_name=keys.ONLINE_ACCURACY_ABOVE_FLOOR, passed=not breaches, severity=dg.AssetCheckSeverity.WARN,
        description=(f"{'; '.join(breaches)}: a retrain is requested" if breaches else
                     f"online precision {readable(summary['online_precision'])}, recall "
                     f"{readable(summary['online_recall'])}: none below its floor (each judged on at least "
                     f"{policy.min_online_boxes} boxes)") + f" ({counts})",
        metadata={"online_precision": readable(summary["online_precision"]),
                  "online_recall": readable(summary["online_recall"]), **floors})


def write_monitoring_pages(context, mlflow: MlflowResource, store, versions: list[str | None]) -> list[str]:
    """The monitoring pages of the versions that watched this partition (champion, then challenger or canary),
    rewritten from the whole footage_monitoring table; a page that cannot be drawn is a warning, never a lost
    partition. Returns their lake keys."""
    from vision_assets.core.monitoring.drift_page import model_facts, monitoring_rows, write_drift_page

    registry, name, written = mlflow.registry(), mlflow.model_name, []
    try:
        rows = monitoring_rows(store)
        for version in filter(None, versions):
            facts = model_facts(registry, name, registry.get_version(name, str(version)))
            written.append(write_drift_page(store, name, str(version), facts, rows=rows))
    except (OSError, ValueError, ImportError) as error:
        context.log.warning(f"monitoring page not written: {error}")
    return written


def monitoring_metadata(summary: dict, model_name: str, table_key: str) -> dict:
    """Numbers the UI plots per scene over days (Dagster plots numeric metadata across materializations)."""
    numbers = ["frames", "detections_per_frame", "confidence_mean", "drift_score", "drift_p_value", "brightness_mean",
               "contrast_mean", "sharpness_mean", "mean_blue_mean", "mean_green_mean", "mean_red_mean",
               "shadow_disagreement_rate", "latency_p50_ms", "latency_p95_ms", "challenger_latency_p50_ms",
               "challenger_latency_p95_ms", "online_frames", "online_tp", "online_fp", "online_fn",
               "online_precision", "online_recall", "online_false_alarm_rate", "online_miss_rate"]
    metadata = {name: readable(summary[name]) for name in numbers}
    metadata.update({
        "monitored": True,
        "champion_version": summary["champion_version"],
        "champion": dg.MetadataValue.url(mlflow_model_url(model_name, summary["champion_version"])),
        "challenger_version": summary["challenger_version"] or "none",
        "baseline_reference": summary["baseline_reference"],
        "baseline_frames": summary["baseline_frames"],
        "detections_per_frame_by_class": dg.MetadataValue.json(summary["detections_per_frame_by_class"]),
        "confidence_p10_p50_p90": dg.MetadataValue.json(summary["confidence_p10_p50_p90"]),
        "table": dg.MetadataValue.path(table_key),
    })
    if summary["online_frames"]:
        metadata["online_label_version"] = summary["online_label_version"]
        metadata["online_by_class"] = dg.MetadataValue.json(  # NaN (an undefined rate) is not JSON: null
            [{k: None if v != v else v for k, v in row.items()} for row in summary["online_by_class"]])
        if summary["challenger_version"]:
            metadata.update({f"challenger_{name}": readable(summary[f"challenger_{name}"]) for name in
                             ("online_tp", "online_fp", "online_fn", "online_precision", "online_recall")})
    if summary["shadow_by_class"]:
        import pandas as pd

        metadata["shadow_by_class"] = dg.MetadataValue.md(md_table(pd.DataFrame(summary["shadow_by_class"])))
    return metadata


DRIFT_TAG = "vision/drift_p_value"


@dg.sensor(job=hard_examples_job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Drift feeds the loop: partitions whose footage the current champion finds out of its "
                       "training distribution get their hard examples mined (the labelling queue) now, most "
                       "drifting first, instead of waiting for the nightly schedule.")
def drift_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, mlflow: MlflowResource):
    from vision_assets.core.mining.partition import partitions_to_mine
    from vision_assets.core.monitoring.feedback import drifting_partitions

    champion = mlflow.registry().champion(mlflow.model_name)
    if champion is None:
        return dg.SkipReason("no champion model yet")
    store, version = lake.lake(), str(champion.version)
    drifting = drifting_partitions(store.read_tables(lake_keys.FOOTAGE_MONITORING), version)
    unmined = {(p["scene"], p["day"]) for p in partitions_to_mine(store, version)}
    todo = [row for row in drifting.itertuples() if (row.scene, row.day) in unmined]
    if not todo:
        return dg.SkipReason(f"no drifting partition left to mine for champion v{version}")
    return [dg.RunRequest(partition_key=scene_day_key(row.scene, row.day), run_key=f"drift:v{version}:{row.scene}|{row.day}",
                          tags={"vision/champion_version": version, DRIFT_TAG: f"{row.drift_p_value:.4g}"})
            for row in todo]
