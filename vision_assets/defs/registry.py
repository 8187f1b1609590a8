"""Stage 7: registered_model, the MLflow model version (a deployable package), promoted to champion only when it
passes the promotion gate against the current champion on the same test split."""

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from vision_assets.core.lake import keys as lake_keys
from vision_assets.core.numbers import finite_number
from vision_assets.core.records import Checkpoint, DatasetVersion, Evaluation, Registration
from vision_assets.defs import keys
from vision_assets.defs.markdown import md_table, mlflow_model_url, mlflow_run_link, readable, report_page_link
from vision_assets.defs.resources import LakeResource, MlflowResource, PromotionPolicyResource, RetentionPolicyResource

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
                     mlflow: MlflowResource, promotion: PromotionPolicyResource):
    from vision_assets.core.registry import read_audit, record_decision, record_event
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
        package = _package(store, checkpoint, dataset, evaluation, lake.work)
        log_package(registry, checkpoint.mlflow_run_id, package.path)
        version = registry.register(name, checkpoint.mlflow_run_id, PACKAGE_ARTIFACT,
                                    _tags(context, checkpoint, dataset, evaluation, package),
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
    record = Registration(
        name=name, version=str(version.version), decision=decision,
        champion_version=str(champion.version) if champion else None, dataset_version=dataset.version,
        checkpoint_sha256=checkpoint.checkpoint_sha256, mlflow_run_id=checkpoint.mlflow_run_id,
        map50_95=evaluation.overall[PRIMARY_METRIC])
    context.log.info(f"{name} v{version.version}: {decision}")
    tags = registry.get_version(name, str(version.version)).tags
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
        _name_the_model_on_its_page(context, store, evaluation, name, str(version.version), checkpoint.mlflow_run_id)
        metadata["report_page"] = report_page_link(eval_report.extra["report_page"])
    recent = read_audit(store).tail(10)
    metadata["audit_recent"] = dg.MetadataValue.md(md_table(recent[["time", "action", "actor", "object", "reason"]])
                                                   + "\n\nAll events: `vision-assets audit`.")
    if package is not None:
        metadata["onnx_parity"] = dg.MetadataValue.json(package.parity)
        metadata["inference_config"] = dg.MetadataValue.json(package.inference_config)
    yield dg.Output(record, metadata=metadata, data_version=dg.DataVersion(f"{name}:{version.version}"))
    yield floor
    yield _consistency(registry, store, name, lake.work)


def _consistency(registry, store, name: str, work: Path) -> dg.AssetCheckResult:
    from vision_assets.core.registry.consistency import alias_problems

    aliases, problems = alias_problems(registry, store, name, work)
    return dg.AssetCheckResult(check_name=keys.REGISTRY_CONSISTENT, passed=not problems,
                               severity=dg.AssetCheckSeverity.ERROR,
                               metadata={"aliases": dg.MetadataValue.json(aliases),
                                         "problems": dg.MetadataValue.json(problems)})


def _package(store, checkpoint: Checkpoint, dataset: DatasetVersion, evaluation: Evaluation, work: Path) -> "Package":
    """The deployable package, serving the evaluation's own operating point."""
    from vision_assets.core.registry.package import build_package

    weights = store.local_copy(checkpoint.checkpoint_path, work / "checkpoints")
    manifest = store.read_table(lake_keys.DATASET_MANIFEST, {"version": dataset.version})
    test = manifest[manifest["split"] == "test"].head(PARITY_IMAGES)
    images = [Path(store.local_copy(key, work / "frames")) for key in test["image_path"]]
    return build_package(Path(weights), evaluation.inference_config, images,
                         work / "packages" / checkpoint.checkpoint_sha256[:16])


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


def _name_the_model_on_its_page(context, store, evaluation: Evaluation, name: str, version: str, run_id: str) -> None:
    """The report page was written by eval_report before there was a version: its top names the registered model
    now (a page that cannot be redrawn keeps its checkpoint-only header, with a warning)."""
    from vision_assets.core.evaluation.report_page import write_report_page

    try:
        write_report_page(store, evaluation.to_json(), model={"name": name, "version": version, "mlflow_run_id": run_id})
    except (OSError, ValueError, KeyError) as error:
        context.log.warning(f"registered_model: the report page keeps its header without the version: {error}")
