"""Stage 7: registered_model, the MLflow model version (a deployable package), promoted to champion only when it
passes the promotion gate against the current champion on the same test split."""

import hashlib
from pathlib import Path

import dagster as dg

from vision_assets.core.lake import keys as lake_keys
from vision_assets.core.registry import GateConfig, read_audit, record_decision, record_event
from vision_assets.core.registry.consistency import alias_problems
from vision_assets.core.registry.package import (
    MANIFEST_TAG,
    PACKAGE_ARTIFACT,
    build_package,
    inference_config,
    log_package,
)
from vision_assets.defs import keys
from vision_assets.defs.markdown import md_table, mlflow_model_url, mlflow_run_link, readable
from vision_assets.defs.resources import (
    LakeResource,
    MlflowResource,
    PromotionPolicyResource,
    RetentionPolicyResource,
    TrainerResource,
)

PRIMARY_METRIC = "map50_95"
PARITY_IMAGES = 4  # test images the ONNX export is checked on


class RegistrySettings(dg.Config):
    """One run's overrides of the project file's `promotion` (unset: the project's value, PromotionPolicyResource),
    and the inference config the package carries."""

    min_map50: float | None = None  # the evaluation floor: below it the version is not registered
    min_map50_95: float | None = None  # the champion floor: below it registered, never champion
    margin: float | None = None  # the candidate must beat the champion's mAP50-95 by more than this
    slice_tolerance: float | None = None  # a scene, lighting or class slice may drop by at most this
    tracking_tolerance: float | None = None  # IDF1 per scene may drop by at most this
    min_boxes: int | None = None  # slices with fewer boxes are shown, not gated
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300

    def effective(self, policy: PromotionPolicyResource) -> dict:
        names = ("min_map50", "min_map50_95", "margin", "slice_tolerance", "tracking_tolerance", "min_boxes")
        return {name: getattr(policy, name) if getattr(self, name) is None else getattr(self, name) for name in names}


def gate_config(values: dict) -> GateConfig:
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
def registered_model(context: dg.AssetExecutionContext, config: RegistrySettings, eval_report: dict,
                     trained_checkpoint: dict, dataset_split: dict, lake: LakeResource, mlflow: MlflowResource,
                     trainer: TrainerResource, promotion: PromotionPolicyResource):
    if eval_report["checkpoint_sha256"] != trained_checkpoint["checkpoint_sha256"]:
        raise dg.Failure("eval_report is not the evaluation of this checkpoint: rematerialize eval_report first")
    registry, store = mlflow.registry(), lake.lake()
    name = mlflow.model_name
    overall = eval_report["overall"]
    policy = config.effective(promotion)
    floor_ok = float(overall.get("map50", float("nan"))) >= policy["min_map50"]
    floor = dg.AssetCheckResult(check_name=keys.EVALUATION_FLOOR, passed=floor_ok, severity=dg.AssetCheckSeverity.ERROR,
                                description=f"mAP50 {float(overall.get('map50', float('nan'))):.4f} "
                                            f"{'>=' if floor_ok else '<'} {policy['min_map50']:g} (promotion.min_map50)",
                                metadata={"map50": float(overall.get("map50", float("nan"))),
                                          "min_map50": policy["min_map50"]})
    if not floor_ok:
        # Dagster records a materialization even when a blocking check fails: the floor is applied before
        # anything reaches the registry, and the check shows why.
        context.log.warning(f"mAP50 {overall.get('map50')} < {policy['min_map50']}: not registered")
        yield dg.Output({"name": name, "version": None, "decision": "not registered (below the evaluation floor)",
                         "dataset_version": dataset_split["version"],
                         "checkpoint_sha256": trained_checkpoint["checkpoint_sha256"]},
                        metadata={"decision": "not registered (below the evaluation floor)", "map50": overall.get("map50")})
        yield floor
        yield _consistency(registry, store, name, lake.work)
        return
    version = registry.find_version(name, "checkpoint_sha256", trained_checkpoint["checkpoint_sha256"])
    package = None
    if version is None:
        package = _package(store, trained_checkpoint, dataset_split, eval_report, config, lake.work)
        log_package(registry, trained_checkpoint["mlflow_run_id"], package["path"])
        version = registry.register(name, trained_checkpoint["mlflow_run_id"], PACKAGE_ARTIFACT,
                                    _tags(context, trained_checkpoint, dataset_split, eval_report, package),
                                    description=f"dataset {dataset_split['version']}, mAP50-95 {overall['map50_95']:.4f}")
    decided_before = "champion_decision" in version.tags
    gates: list = []
    decision = record_decision(registry, name, version, eval_report, dataset_split, store, lake.work,
                               trainer.device, gate_config(policy), gates, floor=policy["min_map50_95"])
    if not decided_before and gates:
        action = "promote" if gates[0].promote else "challenger"
        record_event(store, action, f"{name} v{version.version}", gates[0].one_line(), run_tags=dict(context.run.tags))
    champion = registry.champion(name)
    record = {
        "name": name, "version": str(version.version), "decision": decision,
        "champion_version": str(champion.version) if champion else None,
        "dataset_version": dataset_split["version"], "checkpoint_sha256": trained_checkpoint["checkpoint_sha256"],
        "mlflow_run_id": trained_checkpoint["mlflow_run_id"], PRIMARY_METRIC: overall[PRIMARY_METRIC],
    }
    context.log.info(f"{name} v{version.version}: {decision}")
    tags = registry.get_version(name, str(version.version)).tags
    metadata = {
        "model": dg.MetadataValue.url(mlflow_model_url(name, version.version)),
        "model_uri": f"models:/{name}/{version.version}",
        **mlflow_run_link(mlflow.tracking_uri, trained_checkpoint["mlflow_run_id"]),
        "decision": decision,
        "champion_floor_map50_95": policy["min_map50_95"],
        "gate": tags.get("gate", ""),
        "regressed_slices": tags.get("gate_regressed", ""),
        "champion_version": record["champion_version"] or "",
        "dataset_version": dataset_split["version"],
        PRIMARY_METRIC: readable(overall[PRIMARY_METRIC]),
    }
    if gates:
        metadata["decision_table"] = dg.MetadataValue.md(gates[0].markdown())
    recent = read_audit(store).tail(10)
    metadata["audit_recent"] = dg.MetadataValue.md(md_table(recent[["time", "action", "actor", "object", "reason"]])
                                                   + "\n\nAll events: `vision-assets audit`.")
    if package is not None:
        metadata["onnx_parity"] = dg.MetadataValue.json(package["parity"])
        metadata["inference_config"] = dg.MetadataValue.json(_inference(trained_checkpoint, dataset_split, config))
    yield dg.Output(record, metadata=metadata, data_version=dg.DataVersion(f"{name}:{version.version}"))
    yield floor
    yield _consistency(registry, store, name, lake.work)


def _consistency(registry, store, name: str, work: Path) -> dg.AssetCheckResult:
    aliases, problems = alias_problems(registry, store, name, work)
    return dg.AssetCheckResult(check_name=keys.REGISTRY_CONSISTENT, passed=not problems,
                               severity=dg.AssetCheckSeverity.ERROR,
                               metadata={"aliases": dg.MetadataValue.json(aliases),
                                         "problems": dg.MetadataValue.json(problems)})


def _inference(checkpoint: dict, dataset: dict, config: RegistrySettings) -> dict:
    return inference_config(checkpoint["config"]["imgsz"], dataset["class_names"], conf=config.conf, iou=config.iou,
                            max_det=config.max_det)


def _package(store, checkpoint: dict, dataset: dict, report: dict, config: RegistrySettings, work: Path) -> dict:
    weights = store.local_copy(checkpoint["checkpoint_path"], work / "checkpoints")
    manifest = store.read_table(lake_keys.DATASET_MANIFEST, {"version": dataset["version"]})
    test = manifest[manifest["split"] == "test"].head(PARITY_IMAGES)
    images = [Path(store.local_copy(key, work / "frames")) for key in test["image_path"]]
    return build_package(Path(weights), _inference(checkpoint, dataset, config), images,
                         work / "packages" / checkpoint["checkpoint_sha256"][:16])


def _tags(context, checkpoint: dict, dataset: dict, report: dict, package: dict) -> dict:
    videos = dataset["videos"]
    overall = report["overall"]
    parity = package["parity"]
    return {
        "dataset_version": dataset["version"],
        "dataset_manifest": dataset["manifest_path"],
        "source_videos_sha256_digest": hashlib.sha256("\n".join(sorted(videos)).encode()).hexdigest(),
        "source_videos": len(videos),
        "checkpoint_sha256": checkpoint["checkpoint_sha256"],
        "checkpoint_record": lake_keys.checkpoint_record_key(checkpoint["fingerprint"]),
        "git_commit": checkpoint["git_commit"],
        "code_version": checkpoint["code_version"],
        "dagster_run_id": context.run_id,
        "training_dagster_run_id": checkpoint["dagster_run_id"],
        "test_split_hash": report["test_split_hash"],
        "imgsz": checkpoint["config"]["imgsz"],
        "conf_threshold": package_config(package, "conf"),
        "iou_nms": package_config(package, "iou"),
        MANIFEST_TAG: package["manifest_sha256"],
        "onnx_max_box_diff_px": f"{parity['max_box_diff_px']:.3g}",
        **{k: overall[k] for k in ("map50_95", "map50", "precision", "recall") if k in overall},
    }


def package_config(package: dict, key: str):
    import json

    return json.loads((package["path"] / "inference_config.json").read_text())[key]


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
