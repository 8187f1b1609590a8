"""Stage 5: trained_checkpoint, an Ultralytics YOLO model trained on one dataset version, logged to MLflow."""

import time
from pathlib import Path

import dagster as dg

from vision_assets.core.lake import sha256_file
from vision_assets.core.training import code_version, git_commit, resolve_device, train_yolo
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
    group_name="training",
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
    store = lake.lake()
    config = trainer.config()
    fingerprint = config.fingerprint(dataset_split["version"])
    record_path = f"checkpoints/{fingerprint}.json"
    if store.exists(record_path):
        record = store.read_json(record_path)
        context.log.info(f"dataset {dataset_split['version']} with this config was trained already: reusing {fingerprint}")
        return _output(record, reused=True)
    registry = mlflow.registry()
    device = resolve_device(config.device)
    run_dir = lake.work / "runs" / fingerprint
    tags = {"dataset_version": dataset_split["version"], "dagster_run_id": context.run_id,
            "git_commit": git_commit(), "code_version": code_version(), "fingerprint": fingerprint}
    started = time.monotonic()
    with registry.run(run_name=f"train-{dataset_split['version']}", tags=tags) as run_id:
        registry.log_params(run_id, {**config.as_dict(), "device_resolved": device, **tags})
        result = train_yolo(Path(dataset_split["data_yaml"]), config, run_dir,
                            on_epoch=lambda epoch, metrics: registry.log_metrics(run_id, metrics, step=epoch))
        registry.log_artifact(run_id, result.weights_path, "weights")
        for extra in ("results.csv", "args.yaml"):
            if (result.run_dir / extra).exists():
                registry.log_artifact(run_id, result.run_dir / extra, "training")
        registry.log_artifact(run_id, Path(dataset_split["data_yaml"]), "dataset")
    digest, stored, _ = store.put_blob_file("checkpoints", result.weights_path, ".pt", digest=sha256_file(result.weights_path))
    record = {
        "fingerprint": fingerprint, "checkpoint_sha256": digest, "checkpoint_path": stored,
        "dataset_version": dataset_split["version"], "mlflow_run_id": run_id, "config": config.as_dict(),
        "device": result.device, "train_seconds": round(time.monotonic() - started, 1),
        "epochs": len(result.epochs), "last_epoch": result.epochs[-1] if result.epochs else {}, **tags,
    }
    store.write_json(record_path, record)
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
