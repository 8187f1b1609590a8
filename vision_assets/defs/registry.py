"""Stage 7: registered_model, the MLflow model version, promoted to champion only when it wins on the same test."""

import hashlib

import dagster as dg

from vision_assets.core.registry import PRIMARY_METRIC, record_decision
from vision_assets.defs import keys
from vision_assets.defs.resources import LakeResource, MlflowResource, TrainerResource


@dg.asset(
    group_name=keys.MODEL_GROUP,
    kinds={"mlflow"},
    owners=["team:vision-ml"],
    code_version="1",
    description=(
        "The model version in the MLflow registry, tagged with its dataset version, checkpoint hash, git commit, "
        "metrics and the Dagster run that made it. It becomes `champion` only if there is none or it beats the "
        "current champion on the same test split; `vision-assets rollback` restores the previous champion."
    ),
)
def registered_model(context: dg.AssetExecutionContext, eval_report: dict, trained_checkpoint: dict,
                     dataset_split: dict, lake: LakeResource, mlflow: MlflowResource, trainer: TrainerResource) -> dg.Output:
    if eval_report["checkpoint_sha256"] != trained_checkpoint["checkpoint_sha256"]:
        raise dg.Failure("eval_report is not the evaluation of this checkpoint: rematerialize eval_report first")
    registry = mlflow.registry()
    name = mlflow.model_name
    overall = eval_report["overall"]
    version = registry.find_version(name, "checkpoint_sha256", trained_checkpoint["checkpoint_sha256"])
    if version is None:
        videos = dataset_split["videos"]
        tags = {
            "dataset_version": dataset_split["version"],
            "dataset_manifest": dataset_split["manifest_path"],
            "source_videos_sha256_digest": hashlib.sha256("\n".join(sorted(videos)).encode()).hexdigest(),
            "source_videos": len(videos),
            "checkpoint_sha256": trained_checkpoint["checkpoint_sha256"],
            "git_commit": trained_checkpoint["git_commit"],
            "code_version": trained_checkpoint["code_version"],
            "dagster_run_id": context.run_id,
            "training_dagster_run_id": trained_checkpoint["dagster_run_id"],
            "test_split_hash": eval_report["test_split_hash"],
            "imgsz": trained_checkpoint["config"]["imgsz"],
            "conf_threshold": 0.25,
            "iou_nms": 0.7,
            **{k: overall[k] for k in ("map50_95", "map50", "precision", "recall")},
        }
        version = registry.register(name, trained_checkpoint["mlflow_run_id"], "weights", tags,
                                    description=f"dataset {dataset_split['version']}, mAP50-95 {overall['map50_95']:.4f}")
    decision = record_decision(registry, name, version, eval_report, dataset_split, lake.lake(), lake.work,
                               trainer.device)
    champion = registry.champion(name)
    record = {
        "name": name, "version": str(version.version), "decision": decision,
        "champion_version": str(champion.version) if champion else None,
        "dataset_version": dataset_split["version"], "checkpoint_sha256": trained_checkpoint["checkpoint_sha256"],
        "mlflow_run_id": trained_checkpoint["mlflow_run_id"], PRIMARY_METRIC: overall[PRIMARY_METRIC],
    }
    context.log.info(f"{name} v{version.version}: {decision}")
    return dg.Output(
        record,
        metadata={
            "model": f"{name} v{version.version}",
            "decision": decision,
            "champion_version": record["champion_version"] or "",
            "dataset_version": dataset_split["version"],
            PRIMARY_METRIC: overall[PRIMARY_METRIC],
        },
        data_version=dg.DataVersion(f"{name}:{version.version}"),
    )
