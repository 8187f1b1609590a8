"""Stage 5: trained_checkpoint, an Ultralytics YOLO model trained on one dataset version, logged to MLflow."""

import base64
import os
from dataclasses import replace
from pathlib import Path

import dagster as dg

from vision_assets.core.errors import VisionError
from vision_assets.core.records import Checkpoint, DatasetVersion
from vision_assets.defs import keys
from vision_assets.defs.markdown import md_table, mlflow_run_link, readable, report_page_link
from vision_assets.defs.resources import LakeResource, MlflowResource, TrainerResource

# The training core (Ultralytics, torch, MLflow) is imported inside the asset: loading the code location should cost
# little more than importing dagster.

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


class TrainingRunConfig(dg.Config):
    """Launchpad settings for one run: a sweep space file (YAML) overrides the trainer's sweep_space."""

    sweep_space: str = ""


@dg.asset(
    group_name=keys.MODEL_GROUP,
    kinds={"pytorch", "mlflow"},
    owners=["team:vision-ml"],
    code_version="2",
    pool="gpu",
    op_tags=GPU_POD,
    description=(
        "A YOLO checkpoint trained on one dataset version, best.pt chosen by fitness on its val split (early "
        "stopping by patience), with a reproducibility record (git state, every installed package, devices, "
        "config, seed, dataset manifest hash); per-epoch progress in the run log and MLflow; a killed step "
        "resumes from its last epoch on the retry. The same dataset version and config reuse the existing "
        "checkpoint. With a sweep space, the best trial by val fitness (ranked table below)."
    ),
)
def trained_checkpoint(context: dg.AssetExecutionContext, config: TrainingRunConfig, dataset_split: DatasetVersion,
                       lake: LakeResource, mlflow: MlflowResource, trainer: TrainerResource) -> dg.Output:
    from vision_assets.core.training import existing_checkpoint, train_checkpoint
    from vision_assets.core.training.ownership import AttemptSuperseded
    from vision_assets.core.training.sweep import load_space, run_sweep

    store, train_config = lake.lake(), trainer.config()
    space_file = config.sweep_space or trainer.sweep_file
    if space_file:
        try:
            space = load_space(Path(space_file))
        except VisionError as error:
            raise dg.Failure(str(error)) from error
        result = run_sweep(store, mlflow.registry(), dataset_split, train_config, space, lake.work,
                           run_tags={"dagster_run_id": context.run_id}, log=context.log.info,
                           on_epoch=lambda trial, epoch, metrics: _log_epoch(context, metrics, epoch,
                                                                             f"trial {trial} "))
        summary = result["summary"]
        context.log.info(f"sweep {summary['sweep_id']}: {summary['trained']} trained, {summary['reused']} reused; "
                         f"best {summary['best_fingerprint']}")
        return _output(result["best"], reused=summary["trained"] == 0, sweep=result, tracking_uri=mlflow.tracking,
                       view=_training_view(context, store, result["best"], dataset_split, lake.work, trainer.device))
    record = existing_checkpoint(store, train_config, dataset_split.version)
    if record is not None:
        context.log.info(f"dataset {dataset_split.version} with this config was trained already: "
                         f"reusing {record.fingerprint}")
        return _output(record, reused=True, tracking_uri=mlflow.tracking,
                       view=_training_view(context, store, record, dataset_split, lake.work, trainer.device))
    epochs = train_config.epochs
    still_wanted = attempt_still_wanted(context.instance, context.run_id)
    try:
        record = train_checkpoint(store, mlflow.registry(), dataset_split, train_config, lake.work,
                                  run_tags={"dagster_run_id": context.run_id}, log=context.log.info,
                                  on_epoch=lambda epoch, metrics: _log_epoch(context, metrics, epoch, "", epochs),
                                  still_wanted=still_wanted)
    except AttemptSuperseded:
        if still_wanted.orphaned():  # nobody is listening for this step: leave without recording any event
            os._exit(ORPHAN_EXIT_CODE)
        raise
    return _output(record, reused=False, tracking_uri=mlflow.tracking,
                   view=_training_view(context, store, record, dataset_split, lake.work, trainer.device))


def _training_view(context, store, checkpoint: Checkpoint, dataset_split: DatasetVersion, work: Path,
                   device: str) -> dict:
    """Metadata that shows the training: loss and val-mAP curves per epoch (inline PNG and a table), the train
    split's class histogram, a few val images with predictions (thumbnails; full size on the training page)."""
    record, dataset = checkpoint.to_json(), dataset_split.to_json()  # the page draws from the records' JSON
    from vision_assets.core.evaluation.curves import thumbnail
    from vision_assets.core.training.training_view import (
        class_histogram,
        curves_png,
        epoch_table,
        training_page,
        training_page_key,
        val_predictions,
    )

    def inline(data: bytes, alt: str, width: int) -> str:
        small, mime = thumbnail(data, max_width=width, max_bytes=40_000)
        return f"![{alt}](data:{mime};base64,{base64.b64encode(small).decode()})"

    try:
        epochs = epoch_table(record.get("epoch_metrics") or [])
        histogram = class_histogram(store, record["dataset_version"])
        weights = store.local_copy(record["checkpoint_path"], work / "checkpoints")
        samples = val_predictions(store, dataset, Path(weights), imgsz=int(record["config"]["imgsz"]), work_dir=work,
                                  device=device)
        page = store.write_bytes(training_page_key(record["checkpoint_sha256"]),
                                 training_page(record, epochs, histogram, samples).encode())
    except (OSError, ValueError, KeyError) as error:
        context.log.warning(f"trained_checkpoint: the training view could not be drawn: {error}")
        return {}
    shown = epochs.rename(columns=lambda c: c.removeprefix("metrics/").replace("(B)", ""))
    return {
        "training_curves": dg.MetadataValue.md(inline(curves_png(epochs), "loss and val mAP per epoch", 720)
                                               + "\n\n" + md_table(shown.round(4), max_rows=50)),
        "train_class_histogram": dg.MetadataValue.md(md_table(histogram)),
        "val_predictions": dg.MetadataValue.md(" ".join(inline(j, f"val image {n}", 240) for n, j in enumerate(samples))
                                               + "\n\nGround truth green, predictions red; full size on the "
                                                 "training page.") if samples else "no val images",
        "training_page": report_page_link(page),
    }


ORPHAN_EXIT_CODE = 75  # EX_TEMPFAIL: the step stopped because its run is over


class attempt_still_wanted:  # noqa: N801 - used like a function: still_wanted() -> reason to stop, or None
    """Whether this training attempt should go on: its run is still in progress and the run worker that started
    this step process is alive. A killed run worker leaves its step process running as an orphan (re-parented);
    it must stop rather than write into the work folder its retry resumes in."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str):
        from vision_assets.core.processes import process_identity

        self.instance, self.run_id, self.parent = instance, run_id, os.getppid()
        run = instance.get_run_by_id(run_id)
        # In the in-process daemon (demo, ingest) this process is the run's worker: its parent is a shell, not a
        # run worker, and a closed terminal must not stop the training.
        self.step_process = run is None or run.tags.get("vision/worker") != process_identity(os.getpid())

    def orphaned(self) -> bool:
        return self.step_process and os.getppid() != self.parent

    def __call__(self) -> str | None:
        if self.orphaned():
            return f"the run worker (pid {self.parent}) that started this step is gone"
        run = self.instance.get_run_by_id(self.run_id)
        if run is not None and run.status not in (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING):
            return f"run {self.run_id} is {run.status.value}"
        return None


def _log_epoch(context: dg.AssetExecutionContext, metrics: dict, epoch: int, prefix: str,
               epochs: int | None = None) -> None:
    """One line per epoch in the run log, so a running training shows its progress in the UI."""
    losses = " ".join(f"{name.split('/')[1]} {metrics[name]:.4f}" for name in
                      ("train/box_loss", "train/cls_loss", "train/dfl_loss") if name in metrics)
    val = metrics.get("metrics/mAP50-95(B)")
    context.log.info(
        f"{prefix}epoch {epoch}{f'/{epochs}' if epochs else ''}: {losses}; val mAP50-95 "
        f"{'not validated' if val is None else f'{val:.4f}'}; elapsed {metrics.get('elapsed_s', 0):.0f} s, "
        f"ETA {metrics.get('eta_s', 0):.0f} s")


def _output(record: Checkpoint, reused: bool, sweep: dict | None = None, tracking_uri: str | None = None,
            view: dict | None = None) -> dg.Output:
    environment = record.environment or {}
    metadata = {
        "checkpoint_sha256": record.checkpoint_sha256,
        "weights_sha256": record.weights_sha256 or "",
        "dataset_version": record.dataset_version,
        "mlflow_run_id": record.mlflow_run_id,
        **(mlflow_run_link(tracking_uri, record.mlflow_run_id) if tracking_uri else {}),
        "device": record.device,
        "epochs": record.epochs,
        "best_epoch": record.best_epoch or 0,
        "val_fitness": readable(record.val_fitness or 0.0),
        "train_seconds": readable(record.train_seconds),
        "resumed_after_epoch": record.resumed_after_epoch or 0,
        "git_commit": record.git_commit,
        "environment": dg.MetadataValue.json({k: v for k, v in environment.items() if k != "lock_key"}),
        "reused_existing": reused,
        "config": dg.MetadataValue.json(record.config),
        **(view or {}),
    }
    if sweep is not None:
        metadata["sweep_ranking"] = dg.MetadataValue.md(sweep["table"])
        metadata["sweep_id"] = sweep["summary"]["sweep_id"]
        metadata["sweep_mlflow_run_id"] = sweep["summary"]["mlflow_run_id"]
    return dg.Output(
        replace(record, sweep_id=sweep["summary"]["sweep_id"]) if sweep else record,
        metadata=metadata,
        data_version=dg.DataVersion(record.checkpoint_sha256[:16]),
    )
