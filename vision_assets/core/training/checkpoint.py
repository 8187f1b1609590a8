"""A checkpoint for a dataset version: trained once per (dataset version, config, code), logged to MLflow,
stored in the lake by sha256, with a record that names it by lake key and carries what a rerun needs.

A training that dies resumes on the retry from its work folder (see resume.py); the MLflow run the dead attempt
left RUNNING is ended as FAILED and the new attempt's run links to it (`resumed_from_run_id`) and carries the
finished epochs' metrics too, so its history is whole."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vision_assets.core.datasets.export import local_data_yaml
from vision_assets.core.lake import Lake, keys, sha256_file
from vision_assets.core.records import Checkpoint, DatasetVersion
from vision_assets.core.training.environment import (
    code_version,
    distribution_lock,
    environment_snapshot,
    git_state,
    resolve_device,
)
from vision_assets.core.training.ownership import AttemptSuperseded, own_work_folder
from vision_assets.core.training.resume import prepare_run_dir, read_state, write_state
from vision_assets.core.training.stop_signals import remembered_stop_signals
from vision_assets.core.training.weights import weights_sha256
from vision_assets.core.training.yolo import TrainConfig, TrainResult, model_file_sha256, read_results_csv, train_yolo

if TYPE_CHECKING:  # the registry package depends on training (champion re-evaluation), not the other way
    from vision_assets.core.registry import ModelRegistry

LOCK_ARTIFACT = "environment/requirements.lock"


def existing_checkpoint(lake: Lake, config: TrainConfig, dataset_version: str) -> Checkpoint | None:
    """The record of a checkpoint already trained on this dataset version with this config and code."""
    record_key = keys.checkpoint_record_key(config.fingerprint(dataset_version))
    return Checkpoint.from_json(lake.read_json(record_key)) if lake.exists(record_key) else None


def run_dir_for(work_dir: Path, fingerprint: str) -> Path:
    return work_dir / "runs" / fingerprint


def train_checkpoint(lake: Lake, registry: ModelRegistry, dataset: DatasetVersion, config: TrainConfig, work_dir: Path,
                     run_tags: dict[str, str], on_epoch: Callable[[int, dict], None] | None = None,
                     log: Callable[[str], None] | None = None,
                     still_wanted: Callable[[], str | None] | None = None) -> Checkpoint:
    """Train (or resume) on the dataset version's export, log params, per-epoch metrics and artifacts to MLflow,
    store the weights as a blob and the record beside it (the record last: a crash before it means the retry
    resumes). on_epoch gets (epoch, metrics) with elapsed_s and eta_s added.

    The work folder is this attempt's alone while it runs (ownership.py): a retry waits for an orphaned attempt to
    stop. still_wanted is asked after every epoch and before the outputs are written; a reason back (the run is
    over, the run worker died) stops this attempt with AttemptSuperseded, as does a lost fencing token."""
    log = log or (lambda _: None)
    fingerprint = config.fingerprint(dataset.version)
    run_dir = run_dir_for(work_dir, fingerprint)
    with own_work_folder(run_dir, run_tags.get("dagster_run_id", ""), log=log) as ownership, \
            remembered_stop_signals() as stops:
        def fence() -> None:
            stops.raise_if_received()  # a stop signal a library swallowed (stop_signals.py)
            reason = still_wanted() if still_wanted else None
            if reason:
                raise AttemptSuperseded(f"{fingerprint}: {reason}; this attempt stops without writing")
            ownership.check()

        return _train_owned(lake, registry, dataset, config, work_dir, run_dir, fingerprint, run_tags, on_epoch,
                            log, fence)


def _train_owned(lake: Lake, registry: ModelRegistry, dataset: DatasetVersion, config: TrainConfig, work_dir: Path,
                 run_dir: Path, fingerprint: str, run_tags: dict[str, str],
                 on_epoch: Callable[[int, dict], None] | None, log: Callable[[str], None],
                 fence: Callable[[], None]) -> Checkpoint:
    device = resolve_device(config.device)  # imports torch: a stop signal may be swallowed there
    fence()
    data_yaml = local_data_yaml(lake, dataset, work_dir / "cache")
    started_at, started = _now(), time.monotonic()
    git = git_state()
    tags = {"dataset_version": dataset.version, **run_tags, "git_commit": git["git_commit"],
            "code_version": code_version(), "fingerprint": fingerprint}

    point = prepare_run_dir(run_dir, config.epochs)
    state = read_state(run_dir)
    client = registry.client
    previous_run = state.get("mlflow_run_id")
    if previous_run:
        _close_dead_run(client, previous_run, log)
    run_only_tags = {}
    if point.resumable:
        run_only_tags = {"resumed_from_run_id": previous_run or "", "resumed_after_epoch": point.completed_epochs}
        log(f"resuming {fingerprint} after epoch {point.completed_epochs} of {config.epochs} "
            f"(earlier attempt's MLflow run {previous_run or 'unknown'})")
    run_id = client.create_run(registry.experiment_id(), run_name=f"train-{dataset.version}",
                               tags={k: str(v) for k, v in {**tags, **run_only_tags}.items()}).info.run_id
    if previous_run:
        client.set_tag(previous_run, "resumed_by_run_id", run_id)
    write_state(run_dir, {"mlflow_run_id": run_id, "fingerprint": fingerprint, "started_at": started_at})
    # Listing every installed distribution reads hundreds of metadata files: done while the model trains.
    lock_pool = ThreadPoolExecutor(max_workers=1)
    pending_lock = lock_pool.submit(distribution_lock)
    try:
        environment = environment_snapshot(device)
        registry.log_params(run_id, {**config.as_dict(), "device_resolved": device, **tags})
        if point.resumable:  # the finished epochs' metrics, so this run's history is whole
            for row in read_results_csv(run_dir / "results.csv"):
                registry.log_metrics(run_id, _csv_metrics(row), step=int(row["epoch"]))
        ends: list[float] = []

        def epoch_done(epoch: int, metrics: dict) -> None:
            ends.append(time.monotonic())
            elapsed = ends[-1] - started
            # the first epoch's time includes setup (model build, dataset scan); later ones are the better guide
            per_epoch = elapsed if len(ends) == 1 else (ends[-1] - ends[0]) / (len(ends) - 1)
            eta = per_epoch * max(config.epochs - epoch, 0)
            metrics = {**metrics, "elapsed_s": round(elapsed, 2), "eta_s": round(eta, 2)}
            fence()  # an orphan stops here, before it logs or reports the epoch
            registry.log_metrics(run_id, metrics, step=epoch)
            if on_epoch:
                on_epoch(epoch, metrics)

        result = train_yolo(data_yaml, config, run_dir, on_epoch=epoch_done, resume=point.resumable)
        fence()
        lock = pending_lock.result()
        _log_environment(registry, run_id, git, environment, lock)
        registry.log_artifact(run_id, result.weights_path, "weights")
        for extra in ("results.csv", "args.yaml"):
            if (result.run_dir / extra).exists():
                registry.log_artifact(run_id, result.run_dir / extra, "training")
        registry.log_artifact(run_id, data_yaml, "dataset")
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    finally:
        lock_pool.shutdown(wait=False)
    try:  # the record and its blob are written by the folder's owner only
        fence()
        record = _record(lake, dataset, config, result, fingerprint, run_id, tags, git, environment, lock,
                         started_at, started, work_dir,
                         resumed_after=point.completed_epochs if point.resumable else 0)
        fence()
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.log_batch(run_id, metrics=[], params=[], tags=_record_tags(record))
    client.set_terminated(run_id, status="FINISHED")
    lake.write_json(keys.checkpoint_record_key(fingerprint), record)
    return Checkpoint.from_json(record)


def _record(lake: Lake, dataset: DatasetVersion, config: TrainConfig, result: TrainResult, fingerprint: str, run_id: str,
            tags: dict, git: dict, environment: dict, lock: str, started_at: str, started: float, work_dir: Path,
            resumed_after: int) -> dict:
    digest, stored, _ = lake.put_blob_file(keys.CHECKPOINT_BLOBS, result.weights_path, ".pt",
                                           digest=sha256_file(result.weights_path))
    lock_key = keys.environment_lock_key(_sha(lock))
    if not lake.exists(lock_key):
        lake.write_bytes(lock_key, lock.encode())
    manifest = dataset.manifest_path or None
    epochs = result.epochs
    return {
        "fingerprint": fingerprint, "checkpoint_sha256": digest, "checkpoint_path": stored,
        # sha256 of the tensors alone (see weights.py): the .pt file also pickles a date, so it differs per run
        "weights_sha256": weights_sha256(result.weights_path),
        "dataset_version": dataset.version, "dataset_manifest": manifest,
        "dataset_manifest_sha256": _lake_sha256(lake, manifest, work_dir) if manifest else None,
        "mlflow_run_id": run_id, "config": config.as_dict(), "seed": config.seed,
        "base_model_sha256": model_file_sha256(config.model),
        "device": result.device, "amp": result.amp,
        "train_seconds": round(time.monotonic() - started, 1),
        "started_at": started_at, "ended_at": _now(),
        "epochs": len(epochs), "last_epoch": epochs[-1] if epochs else {}, "epoch_metrics": epochs,
        "best_epoch": result.best_epoch, "val_fitness": result.best_fitness, "best_val": result.best_val,
        "resumed_after_epoch": resumed_after,
        "git": {k: git[k] for k in ("git_head", "git_dirty", "git_diff_sha256")},
        "environment": {**environment, "lock_sha256": _sha(lock), "lock_key": lock_key},
        **tags,
    }


def _record_tags(record: dict) -> list:
    from mlflow.entities import RunTag

    values = {"weights_sha256": record["weights_sha256"], "checkpoint_sha256": record["checkpoint_sha256"],
              "best_epoch": record["best_epoch"], "val_fitness": record["val_fitness"]}
    return [RunTag(k, str(v)) for k, v in values.items()]


def _log_environment(registry: ModelRegistry, run_id: str, git: dict, environment: dict, lock: str) -> None:
    from mlflow.entities import RunTag

    env_tags = {"env_lock_sha256": _sha(lock), "git_dirty": git["git_dirty"], "git_diff_sha256": git["git_diff_sha256"],
                **{f"env.{k}": v for k, v in environment.items()}}
    registry.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in env_tags.items()])
    registry.client.log_text(run_id, lock, LOCK_ARTIFACT)


def _close_dead_run(client, run_id: str, log: Callable[[str], None]) -> None:
    """A run still RUNNING here belongs to an attempt whose process died (this one is its retry)."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        return
    if run.info.status == "RUNNING":
        client.set_terminated(run_id, status="FAILED")
        client.set_tag(run_id, "failure", "the training process died; ended by its retry")
        log(f"MLflow run {run_id} of the dead attempt ended as FAILED")


def _csv_metrics(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("epoch", "time") and v == v}


def _lake_sha256(lake: Lake, key: str, work_dir: Path) -> str | None:
    try:
        return sha256_file(lake.local_copy(key, work_dir / "cache"))
    except (OSError, FileNotFoundError):
        return None


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
