"""Stage 5: trained_checkpoint, an Ultralytics YOLO model trained on one dataset version, logged to MLflow."""

import dagster as dg

from vision_assets.core.training import existing_checkpoint, train_checkpoint
from vision_assets.defs import keys
from vision_assets.defs.resources import LakeResource, MlflowResource, TrainerResource

# dagster-k8s reads this from op_tags when the k8s_job_executor runs the step in its own pod.
GPU_POD = {
    "dagster-k8s/config": {
        "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"cpu": "4", "memory": "16Gi"}}},
        "pod_spec_config": {
            "node_selector": {"nvidia.com/gpu.present": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
    }
}


@dg.asset(
    group_name=keys.MODEL_GROUP,
    kinds={"pytorch", "mlflow"},
    owners=["team:vision-ml"],
    code_version="1",
    pool="gpu",
    op_tags=GPU_POD,
    description=(
        "A YOLO checkpoint trained on one dataset version with a recorded config, seed, code version, git commit "
        "and device; logged with its per-epoch metrics to MLflow and stored in the lake by sha256. The same "
        "dataset version and config reuse the existing checkpoint instead of training again."
    ),
)
def trained_checkpoint(context: dg.AssetExecutionContext, dataset_split: dict, lake: LakeResource,
                       mlflow: MlflowResource, trainer: TrainerResource) -> dg.Output:
    store, config = lake.lake(), trainer.config()
    record = existing_checkpoint(store, config, dataset_split["version"])
    if record is not None:
        context.log.info(f"dataset {dataset_split['version']} with this config was trained already: "
                         f"reusing {record['fingerprint']}")
        return _output(record, reused=True)
    record = train_checkpoint(store, mlflow.registry(), dataset_split, config, lake.work,
                              run_tags={"dagster_run_id": context.run_id})
    return _output(record, reused=False)


def _output(record: dict, reused: bool) -> dg.Output:
    return dg.Output(
        record,
        metadata={
            "checkpoint_sha256": record["checkpoint_sha256"],
            "dataset_version": record["dataset_version"],
            "mlflow_run_id": record["mlflow_run_id"],
            "device": record["device"],
            "epochs": record["epochs"],
            "train_seconds": record["train_seconds"],
            "git_commit": record["git_commit"],
            "reused_existing": reused,
            "config": dg.MetadataValue.json(record["config"]),
        },
        data_version=dg.DataVersion(record["checkpoint_sha256"][:16]),
    )
