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
from vision_assets.defs.automation import CARRY_NEW_PARTITION
from vision_assets.defs.checks import scene_day_check
from vision_assets.defs.frames import sampled_frames
from vision_assets.defs.hard_examples import hard_examples_job
from vision_assets.defs.markdown import md_table, mlflow_model_url, readable, report_page_link
from vision_assets.defs.partitions import lake_partition, scene_and_day, scene_day_key
from vision_assets.defs.resources import LakeResource, MlflowResource, TrainerResource

if TYPE_CHECKING:
    from vision_assets.core.monitoring.partition import Model

CHALLENGER = "challenger"


class MonitoringConfig(dg.Config):
    drift_p_value: float = DRIFT_P_VALUE  # below it the footage is out of the champion's training distribution
    permutations: int = 300
    canary_max_disagreement: float = 0.5  # a canary disagreeing with the champion on more boxes is rolled back
    seed: int = 0


def registry_model(mlflow: MlflowResource, lake: LakeResource, alias: str) -> "tuple[Model, dict] | None":
    from vision_assets.core.monitoring.partition import Model

    """The version behind an alias, its weights downloaded once per version, and its tags."""
    registry = mlflow.registry()
    found = registry.by_alias(mlflow.model_name, alias)
    if found is None:
        return None
    cache = registry.download(mlflow.model_name, found.version, lake.work / "registry" / f"v{found.version}")
    weights = next(Path(cache).rglob("*.pt"))
    return Model(str(found.version), weights, found.tags.get("checkpoint_sha256", "")), dict(found.tags)


@dg.asset(
    partitions_def=sampled_frames.partitions_def,
    deps=[sampled_frames, keys.REGISTERED_MODEL],
    group_name=keys.FEEDBACK_GROUP,
    kinds={"pytorch", "parquet"},
    owners=["team:vision-ml"],
    code_version="1",
    automation_condition=CARRY_NEW_PARTITION,
    check_specs=[
        scene_day_check(keys.FOOTAGE_IN_DISTRIBUTION, keys.FOOTAGE_MONITORING.to_user_string(),
                        "The partition's pooled backbone features are not told apart from the champion's training "
                        "frames by a two-sample MMD permutation test (WARN when p < the configured threshold)."),
        scene_day_check(keys.PREDICTIONS_STABLE, keys.FOOTAGE_MONITORING.to_user_string(),
                        "The champion's detections per frame stay inside the band of its training frames."),
    ],
    description=(
        "The current champion watching one scene x day of footage, labelled or not: image statistics of the "
        "sampled frames (brightness, contrast, Laplacian sharpness, colour), the champion's detections per frame "
        "by class and confidence distribution, an embedding-drift score and p-value against the champion's "
        "training split (MMD with a permutation test on its pooled backbone features; the baseline is made once "
        "per champion checkpoint and cached in the lake), and, when the registry has a `challenger` alias, the "
        "challenger's disagreement with the champion on the same frames. One summary row per partition in "
        "`tables/footage_monitoring/`. Runs on new frames and on every new registered model."
    ),
)
def footage_monitoring(context: dg.AssetExecutionContext, config: MonitoringConfig, lake: LakeResource,
                       mlflow: MlflowResource, trainer: TrainerResource):
    from vision_assets.core.monitoring.canary import CANARY, canary_failure, canary_scenes, rollback_canary
    from vision_assets.core.monitoring.partition import champion_baseline, monitor_partition

    scene, day = scene_and_day(context)
    found = registry_model(mlflow, lake, "champion")
    if found is None:
        yield dg.MaterializeResult(metadata={"monitored": False, "reason": "no champion yet"})
        for name in (keys.FOOTAGE_IN_DISTRIBUTION, keys.PREDICTIONS_STABLE):
            # WARN like every other result of these checks: the UI colours a check by its latest result's severity.
            yield dg.AssetCheckResult(check_name=name, passed=True, severity=dg.AssetCheckSeverity.WARN,
                                      description="no champion yet: nothing to compare")
        return
    champion, tags = found
    # On a canary's scenes the canary runs beside the champion; elsewhere the challenger, when there is one.
    canary = mlflow.registry().by_alias(mlflow.model_name, CANARY)
    canary = (registry_model(mlflow, lake, CANARY) or (None,))[0] if canary and scene in canary_scenes(canary.tags) else None
    challenger = canary or (registry_model(mlflow, lake, CHALLENGER) or (None,))[0]
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
        failure = canary_failure(summary, config.canary_max_disagreement)
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
               "challenger_latency_p95_ms"]
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
