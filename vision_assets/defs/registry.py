"""Stage 7: registered_model, the MLflow model version (a deployable package), promoted to champion only when it
passes the promotion gate against the current champion on the same test split."""

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from vision_assets.core.lake import keys as lake_keys
from vision_assets.core.numbers import finite_number
from vision_assets.core.records import Checkpoint, DatasetVersion, Evaluation, Registration
from vision_assets.defs import keys
from vision_assets.defs.markdown import md_table, mlflow_model_url, mlflow_run_link, readable, report_page_link
from vision_assets.defs.resources import (
    LakeResource,
    MlflowResource,
    PromotionPolicyResource,
    RetentionPolicyResource,
    TrainerResource,
)

# The registry core (MLflow, pandas, the ONNX export) is imported inside the functions that use it: loading the code
# location should cost little more than importing dagster.
if TYPE_CHECKING:
    from vision_assets.core.registry import GateConfig
    from vision_assets.core.registry.package import Package

PRIMARY_METRIC = "map50_95"
PARITY_IMAGES = 4  # test images the ONNX export is checked on


class RegistrySettings(dg.Config):
    """One run's overrides of the project file's `promotion` (unset: the project's value, PromotionPolicyResource).
    What the package serves (confidence, NMS IoU, max_det, image size) is eval_report's operating point, carried as
    it is: what is served is what was evaluated."""

    min_map50: float | None = None  # the evaluation floor: below it the version is not registered
    min_map50_95: float | None = None  # the champion floor: below it registered, never champion
    margin: float | None = None  # the candidate must beat the champion's mAP50-95 by more than this
    slice_tolerance: float | None = None  # a scene, lighting or class slice may drop by at most this
    tracking_tolerance: float | None = None  # IDF1 per scene may drop by at most this
    min_boxes: int | None = None  # slices with fewer boxes are shown, not gated
    latency_batch: int | None = None  # the package's latency is measured at batch 1 and this (unset: eval's batch)

    def effective(self, policy: PromotionPolicyResource) -> dict:
        names = ("min_map50", "min_map50_95", "margin", "slice_tolerance", "tracking_tolerance", "min_boxes")
        return {name: getattr(policy, name) if getattr(self, name) is None else getattr(self, name) for name in names}


def gate_config(values: dict) -> "GateConfig":
    from vision_assets.core.registry import GateConfig

    return GateConfig(margin=values["margin"], slice_tolerance=values["slice_tolerance"],
                      min_boxes=values["min_boxes"], tracking_tolerance=values["tracking_tolerance"])


@dg.asset(
    group_name=keys.MODEL_GROUP,
    kinds={"mlflow"},
    owners=["team:vision-ml"],
    code_version="2",
    check_specs=[
        dg.AssetCheckSpec(keys.EVALUATION_FLOOR, asset=keys.REGISTERED_MODEL, blocking=True,
                          description="The evaluation's mAP50 is at least the configured minimum; below it the "
                                      "version is not registered at all (checked before registering)."),
        dg.AssetCheckSpec(keys.REGISTRY_CONSISTENT, asset=keys.REGISTERED_MODEL,
                          description="Every alias points at a version whose checkpoint is in the lake with the "
                                      "bytes its checkpoint_sha256 tag names."),
    ],
    description=(
        "The model version in the MLflow registry: a pyfunc MLflow Model (signature, input example, inference "
        "config) with an ONNX export checked against PyTorch and a sha256 manifest of its files, tagged with its "
        "dataset version, checkpoint hash, git commit, metrics and the Dagster run that made it. It becomes "
        "`champion` only if it beats the champion on the same test split by the margin and no scene, lighting, "
        "class or tracking slice regresses beyond tolerance; otherwise `challenger`. The decision table is shown "
        "here and recorded on the version. `vision-assets promote V --reason` overrides; `rollback` restores."
    ),
)
def registered_model(context: dg.AssetExecutionContext, config: RegistrySettings, eval_report: Evaluation,
                     trained_checkpoint: Checkpoint, dataset_split: DatasetVersion, lake: LakeResource,
                     mlflow: MlflowResource, promotion: PromotionPolicyResource, trainer: TrainerResource):
    from vision_assets.core.registry import read_audit, record_decision, record_event
    from vision_assets.core.registry.latency import latency_from_tags
    from vision_assets.core.registry.package import PACKAGE_ARTIFACT, log_package

    evaluation, checkpoint, dataset = eval_report, trained_checkpoint, dataset_split
    if evaluation.checkpoint_sha256 != checkpoint.checkpoint_sha256:
        raise dg.Failure("eval_report is not the evaluation of this checkpoint: rematerialize eval_report first")
    registry, store = mlflow.registry(), lake.lake()
    name = mlflow.model_name
    policy = config.effective(promotion)
    map50 = finite_number(evaluation.overall.get("map50"))
    floor_ok = map50 is not None and map50 >= policy["min_map50"]
    shown = "-" if map50 is None else f"{map50:.4f}"
    floor = dg.AssetCheckResult(check_name=keys.EVALUATION_FLOOR, passed=floor_ok, severity=dg.AssetCheckSeverity.ERROR,
                                description=f"mAP50 {shown} {'>=' if floor_ok else '<'} {policy['min_map50']:g} "
                                            "(promotion.min_map50)",
                                metadata={"map50": float("nan") if map50 is None else map50,
                                          "min_map50": policy["min_map50"]})
    if not floor_ok:
        # Dagster records a materialization even when a blocking check fails: the floor is applied before
        # anything reaches the registry, and the check shows why.
        decision = "not registered (below the evaluation floor)"
        context.log.warning(f"mAP50 {shown} < {policy['min_map50']}: not registered")
        yield dg.Output(Registration(name=name, version=None, decision=decision, dataset_version=dataset.version,
                                     checkpoint_sha256=checkpoint.checkpoint_sha256),
                        metadata={"decision": decision, "map50": map50})
        yield floor
        yield _consistency(registry, store, name, lake.work)
        return
    version = registry.find_version(name, "checkpoint_sha256", checkpoint.checkpoint_sha256)
    package = None
    if version is None:
        batch = config.latency_batch or int((evaluation.evaluation_config or {}).get("inference", {}).get("batch", 16))
        package, frames = _package(store, checkpoint, dataset, evaluation, lake.work, batch)
        latency = _latency(context, package, frames, batch, trainer.device)
        log_package(registry, checkpoint.mlflow_run_id, package.path)
        version = registry.register(name, checkpoint.mlflow_run_id, PACKAGE_ARTIFACT,
                                    {**_tags(context, checkpoint, dataset, evaluation, package), **latency},
                                    description=f"dataset {dataset.version}, mAP50-95 "
                                                f"{evaluation.overall['map50_95']:.4f}")
    decided_before = "champion_decision" in version.tags
    gates: list = []
    decision = record_decision(registry, name, version, evaluation, store, lake.work, gate_config(policy), gates,
                               floor=policy["min_map50_95"])
    if not decided_before and gates:
        action = "promote" if gates[0].promote else "challenger"
        record_event(store, action, f"{name} v{version.version}", gates[0].one_line(), run_tags=dict(context.run.tags))
    champion = registry.champion(name)
    current = registry.get_version(name, str(version.version))
    tags = current.tags
    monitoring_page = _monitoring_pages(context, registry, store, name, current, evaluation, checkpoint)
    record = Registration(
        name=name, version=str(version.version), decision=decision,
        champion_version=str(champion.version) if champion else None, dataset_version=dataset.version,
        checkpoint_sha256=checkpoint.checkpoint_sha256, mlflow_run_id=checkpoint.mlflow_run_id,
        map50_95=evaluation.overall[PRIMARY_METRIC], latency=latency_from_tags(dict(tags)) or None,
        monitoring_page=monitoring_page)
    context.log.info(f"{name} v{version.version}: {decision}")
    metadata = {
        "model": dg.MetadataValue.url(mlflow_model_url(name, version.version)),
        "model_uri": f"models:/{name}/{version.version}",
        **mlflow_run_link(mlflow.tracking, checkpoint.mlflow_run_id),
        "decision": decision,
        "champion_floor_map50_95": policy["min_map50_95"],
        "gate": tags.get("gate", ""),
        "regressed_slices": tags.get("gate_regressed", ""),
        "champion_version": record.champion_version or "",
        "dataset_version": dataset.version,
        PRIMARY_METRIC: readable(record.map50_95),
    }
    if gates:
        metadata["decision_table"] = dg.MetadataValue.md(gates[0].markdown())
    if eval_report.extra.get("report_page"):
        metadata["report_page"] = report_page_link(eval_report.extra["report_page"])
    recent = read_audit(store).tail(10)
    metadata["audit_recent"] = dg.MetadataValue.md(md_table(recent[["time", "action", "actor", "object", "reason"]])
                                                   + "\n\nAll events: `vision-assets audit`.")
    if package is not None:
        metadata["onnx_parity"] = dg.MetadataValue.json(package.parity)
        metadata["inference_config"] = dg.MetadataValue.json(package.inference_config)
    metadata.update(_delivery_metadata(registry, store, name, current, champion, monitoring_page))
    yield dg.Output(record, metadata=metadata, data_version=dg.DataVersion(f"{name}:{version.version}"))
    yield floor
    yield _consistency(registry, store, name, lake.work)


def _latency(context, package: "Package", frames: list[Path], batch: int, device: str) -> dict:
    """The package's per-image latency as version tags (pyfunc and ONNX, batch 1 and `batch`, p50/p95), measured
    on the device the version was evaluated on; {} with a warning when it cannot be measured (the version is still
    registered: latency informs, it does not gate)."""
    from vision_assets.core.registry.latency import measure_package_latency
    from vision_assets.core.training.environment import resolve_device

    try:
        latency = measure_package_latency(package.path, frames, batch=batch, device=resolve_device(device))
    except (OSError, RuntimeError, ValueError, ImportError) as error:
        context.log.warning(f"package latency not measured: {error}")
        return {}
    context.log.info("package latency per image (ms): " + json.dumps(latency.ms))
    return latency.tags()


def _monitoring_pages(context, registry, store, name: str, version, evaluation: Evaluation,
                      checkpoint: Checkpoint) -> str | None:
    """The version's monitoring page (written now, so its link opens before any footage is watched) and the
    evaluation's report page again, now naming the registered version and linking that page. A page that cannot
    be drawn is a warning, never a lost registration."""
    from vision_assets.core.evaluation.report_page import write_report_page
    from vision_assets.core.monitoring.drift_page import model_facts, write_drift_page

    try:
        page = write_drift_page(store, name, str(version.version), model_facts(registry, name, version))
    except (OSError, ValueError, ImportError) as error:
        context.log.warning(f"monitoring page not written: {error}")
        return None
    if evaluation.extra.get("report_page"):
        try:
            write_report_page(store, evaluation.to_json(), model={
                "name": name, "version": str(version.version), "mlflow_run_id": checkpoint.mlflow_run_id,
                "monitoring_page": page})
        except (OSError, ValueError, KeyError, ImportError) as error:
            context.log.warning(f"report page not updated with the monitoring link: {error}")
    return page


def _delivery_metadata(registry, store, name: str, version, champion, monitoring_page: str | None) -> dict:
    """Latency (this version, and against the champion: the champion it did not replace, else the one it
    replaced), the canary state, the shadow disagreement so far and the monitoring page."""
    import pandas as pd

    from vision_assets.core.monitoring.drift_page import canary_state, latency_text, monitoring_rows, shadow_summary
    from vision_assets.core.registry.latency import latency_from_tags, latency_rows

    tags = dict(version.tags)
    ours = latency_from_tags(tags)
    metadata: dict = {"latency": latency_text(ours)}
    for flavour, modes in ours.get("ms", {}).items():
        for mode, stats in modes.items():
            for stat, value in stats.items():
                metadata[f"latency_{flavour}_{mode}_{stat}_ms"] = readable(value)
    other_version = (str(champion.version) if champion and str(champion.version) != str(version.version)
                     else tags.get("previous_champion"))
    if other_version:
        theirs = latency_from_tags(dict(registry.get_version(name, other_version).tags))
        rows = pd.DataFrame(latency_rows(ours, theirs))
        metadata["latency_vs_champion"] = dg.MetadataValue.md(
            f"Champion v{other_version} ({theirs.get('device') or 'not measured'}) against this version "
            f"({ours.get('device') or 'not measured'}); ratio = this / champion, under 1 is faster.\n\n"
            + md_table(rows.rename(columns={"champion_ms": f"v{other_version}_ms"})))
    metadata["canary"] = canary_state(registry, name, version)
    shadow = shadow_summary(monitoring_rows(store), str(version.version))
    metadata["shadow_disagreement"] = dg.MetadataValue.md(
        md_table(shadow) if len(shadow) else "_no shadow comparison involving this version yet_")
    if monitoring_page:
        metadata["monitoring_page"] = report_page_link(monitoring_page)
    return metadata


def _consistency(registry, store, name: str, work: Path) -> dg.AssetCheckResult:
    from vision_assets.core.registry.consistency import alias_problems

    aliases, problems = alias_problems(registry, store, name, work)
    return dg.AssetCheckResult(check_name=keys.REGISTRY_CONSISTENT, passed=not problems,
                               severity=dg.AssetCheckSeverity.ERROR,
                               metadata={"aliases": dg.MetadataValue.json(aliases),
                                         "problems": dg.MetadataValue.json(problems)})


def _package(store, checkpoint: Checkpoint, dataset: DatasetVersion, evaluation: Evaluation, work: Path,
             batch: int) -> "tuple[Package, list[Path]]":
    """The deployable package, serving the evaluation's own operating point, and the test frames (up to one
    batch) its latency is measured on."""
    from vision_assets.core.registry.package import build_package

    weights = store.local_copy(checkpoint.checkpoint_path, work / "checkpoints")
    manifest = store.read_table(lake_keys.DATASET_MANIFEST, {"version": dataset.version})
    test = manifest[manifest["split"] == "test"].head(max(PARITY_IMAGES, batch))
    images = [Path(store.local_copy(key, work / "frames")) for key in test["image_path"]]
    package = build_package(Path(weights), evaluation.inference_config, images[:PARITY_IMAGES],
                            work / "packages" / checkpoint.checkpoint_sha256[:16])
    return package, images


def _tags(context, checkpoint: Checkpoint, dataset: DatasetVersion, evaluation: Evaluation, package: "Package") -> dict:
    from vision_assets.core.registry.package import MANIFEST_TAG

    overall = evaluation.overall
    return {
        "dataset_version": dataset.version,
        "dataset_manifest": dataset.manifest_path,
        "source_videos_sha256_digest": hashlib.sha256("\n".join(sorted(dataset.videos)).encode()).hexdigest(),
        "source_videos": len(dataset.videos),
        "checkpoint_sha256": checkpoint.checkpoint_sha256,
        "checkpoint_record": lake_keys.checkpoint_record_key(checkpoint.fingerprint),
        "git_commit": checkpoint.git_commit,
        "code_version": checkpoint.code_version,
        "dagster_run_id": context.run_id,
        "training_dagster_run_id": checkpoint.dagster_run_id,
        "test_split_hash": evaluation.test_split_hash,
        "evaluation_key": evaluation.evaluation_key,
        "imgsz": package.inference_config["imgsz"],
        "conf_threshold": package.inference_config["conf"],
        "iou_nms": package.inference_config["iou"],
        "max_det": package.inference_config["max_det"],
        MANIFEST_TAG: package.manifest_sha256,
        "onnx_max_box_diff_px": f"{package.parity['max_box_diff_px']:.3g}",
        **{k: overall[k] for k in ("map50_95", "map50", "precision", "recall") if k in overall},
    }


@dg.op(description="Forgets every video older than its scene's retention period (lake bytes and rows, tainted "
                   "versions, audit rows), as `vision-assets forget --apply` does.")
def apply_retention_op(context: dg.OpExecutionContext, lake: LakeResource, mlflow: MlflowResource,
                       retention: RetentionPolicyResource) -> None:
    from datetime import UTC, datetime

    from vision_assets.core.registry.forget import apply_retention

    removed = apply_retention(mlflow.registry(), lake.lake(), mlflow.model_name, dict(retention.scenes),
                              retention.default_days, datetime.now(UTC).date(), run_tags=dict(context.run.tags))
    context.log.info(f"retention: {len(removed)} video(s) forgotten" +
                     "".join(f"\n  {r['video_sha256'][:16]} {r['scene']}/{r['day']} ({r['age_days']} days)"
                             for r in removed))


@dg.job(description="Applies the video policy's per-scene retention.")
def retention_job():
    apply_retention_op()


nightly_retention = dg.ScheduleDefinition(
    name="nightly_retention", job=retention_job, cron_schedule="30 1 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night: videos past their scene's retention period are forgotten.")

