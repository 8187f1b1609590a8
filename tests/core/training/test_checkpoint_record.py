"""One real training on a tiny dataset (CPU, imgsz 64): the val split is used (every second epoch and the last),
best.pt is the best validated epoch, the record is complete and true, and `vision-assets reproduce` retrains it
from the record alone to bit-identical weights."""

from __future__ import annotations

import json
import math
import platform

import pytest
from training_helpers import FAST, tiny_dataset, tiny_lake, tiny_registry

from vision_assets.core.lake import sha256_file
from vision_assets.core.registry import DEFAULT_MODEL_NAME
from vision_assets.core.training import TrainConfig, train_checkpoint, weights_sha256
from vision_assets.core.training.environment import parse_lock

EPOCHS = 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trained")
    lake, registry = tiny_lake(tmp), tiny_registry(tmp)
    dataset = tiny_dataset(lake)
    config = TrainConfig(**{**FAST, "epochs": EPOCHS, "val_every": 2})
    progress = []
    record = train_checkpoint(lake, registry, dataset, config, tmp / "work", {"dagster_run_id": "run-1"},
                              on_epoch=lambda epoch, metrics: progress.append((epoch, metrics)))
    return tmp, lake, registry, dataset, record, progress


@pytest.mark.slow
def test_validation_runs_every_k_epochs_and_picks_best_pt(trained):
    _, lake, _, _, record, progress = trained
    validated = [epoch for epoch, metrics in progress if "metrics/mAP50-95(B)" in metrics]
    assert validated == [2, 3]  # every 2nd epoch, and always the last
    rows = record.epoch_metrics
    assert math.isnan(rows[0]["metrics/mAP50-95(B)"]) and not math.isnan(rows[1]["metrics/mAP50-95(B)"])
    assert record.best_epoch in validated
    fitness = {epoch: metrics["fitness"] for epoch, metrics in progress if "fitness" in metrics}
    assert record.val_fitness == pytest.approx(max(fitness.values()))
    assert record.best_epoch == max(e for e, f in fitness.items() if f == max(fitness.values()))
    assert {"metrics/mAP50-95(B)", "metrics/mAP50(B)"} <= set(record.best_val)
    for _epoch, metrics in progress:
        assert metrics["elapsed_s"] > 0 and metrics["eta_s"] >= 0 and "train/box_loss" in metrics


@pytest.mark.slow
def test_training_leaves_the_dataset_version_as_it_was_written(trained):
    from vision_assets.core.lake import keys
    from vision_assets.core.registry.lineage import stray_files

    tmp, lake, _, dataset, _, _ = trained
    manifest = lake.read_table(keys.DATASET_MANIFEST, {"version": dataset.version})
    assert stray_files(lake, dataset.version, manifest) == []
    caches = {p.name for p in (tmp / "work" / "cache").rglob("*.cache")}
    assert {"train.cache", "val.cache"} <= caches  # Ultralytics' label caches, in the work folder's view


@pytest.mark.slow
def test_the_record_carries_what_a_rerun_needs_and_it_is_true(trained):
    import torch
    import ultralytics

    tmp, lake, registry, dataset, record, _ = trained
    # the file hash stays the lineage hash; the weights hash is over the tensors
    stored = lake.local_path(record.checkpoint_path)
    assert sha256_file(stored) == record.checkpoint_sha256
    assert weights_sha256(stored) == record.weights_sha256
    env = record.environment
    assert env["torch"] == torch.__version__ and env["ultralytics"] == ultralytics.__version__
    assert env["python"] == platform.python_version() and env["device"] == "cpu" and env["device_count"] == 1
    assert env["cpu_count"] >= 1 and env["memory_bytes"] > 0
    lock = (tmp / "lake" / env["lock_key"]).read_text()
    from importlib.metadata import version

    locked = parse_lock(lock)
    assert locked["torch"] == version("torch") and torch.__version__.startswith(locked["torch"])
    assert locked["ultralytics"] == version("ultralytics") and locked["mlflow"] == version("mlflow")
    assert sha256_file(tmp / "lake" / env["lock_key"]) == env["lock_sha256"]
    assert record.dataset_version == dataset.version
    assert record.dataset_manifest_sha256 == sha256_file(lake.local_path(dataset.manifest_path))
    assert record.config == TrainConfig(**{**FAST, "epochs": EPOCHS, "val_every": 2}).as_dict()
    assert record.seed == 0 and record.dagster_run_id == "run-1"
    assert record.started_at <= record.ended_at and record.train_seconds > 0
    assert set(record.git) == {"git_head", "git_dirty", "git_diff_sha256"}
    assert record.git_commit.startswith(record.git["git_head"] or "unknown")
    run = registry.client.get_run(record.mlflow_run_id)
    assert run.data.tags["env_lock_sha256"] == env["lock_sha256"]
    assert run.data.tags["weights_sha256"] == record.weights_sha256
    artifacts = {a.path for a in registry.client.list_artifacts(record.mlflow_run_id, "environment")}
    assert artifacts == {"environment/requirements.lock"}
    history = registry.client.get_metric_history(record.mlflow_run_id, "train/box_loss")
    assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1))


@pytest.mark.slow
def test_reproduce_retrains_from_the_record_to_identical_weights(trained, monkeypatch, capsys):
    from vision_assets.cli.main import main

    tmp, _, registry, _, record, _ = trained
    version = registry.register(DEFAULT_MODEL_NAME, record.mlflow_run_id, "weights",
                                {"checkpoint_sha256": record.checkpoint_sha256})
    monkeypatch.setenv("VISION_DATA_DIR", str(tmp))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp / "dagster_home"))
    code = main(["reproduce", f"{DEFAULT_MODEL_NAME}@{version.version}", "--json"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, report
    assert report["identical"] is True and report["original_sha256"] == report["rerun_sha256"] == record.weights_sha256
    assert isinstance(report["environment_differences"], list)
    assert [row["epoch"] for row in report["epochs"]] == list(range(1, EPOCHS + 1))
    for row in report["epochs"]:
        assert row["original"]["train/box_loss"] == row["rerun"]["train/box_loss"]
    assert report["test_metrics"]["original"] == report["test_metrics"]["rerun"]
