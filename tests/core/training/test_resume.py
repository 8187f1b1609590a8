"""A training process killed after epoch k of n resumes on the retry: epochs k+1..n only, the dead attempt's
MLflow run ended as FAILED, the new run linked to it, and results.csv never gets a stale or repeated row."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from helpers import REPO_ROOT
from training_helpers import FAST, tiny_dataset, tiny_lake, tiny_registry

from vision_assets.core.training import TrainConfig, read_results_csv, train_checkpoint
from vision_assets.core.training.checkpoint import run_dir_for
from vision_assets.core.training.resume import read_state

KILL_AFTER, EPOCHS = 1, 3

# Trains in a child process that SIGKILLs itself once epoch KILL_AFTER is saved, as an evicted pod would die.
CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path[:0] = [sys.argv[2]]
    from pathlib import Path
    from training_helpers import tiny_lake, tiny_registry
    from vision_assets.core.training import TrainConfig, train_checkpoint
    import json
    tmp, config = Path(sys.argv[1]), TrainConfig(**json.loads(sys.argv[3]))
    lake = tiny_lake(tmp)
    from vision_assets.core.records import DatasetVersion
    dataset = DatasetVersion.from_json(lake.read_json("datasets/tinytrain0001/dataset.json"))
    def die(epoch, metrics):
        if epoch == int(sys.argv[4]):
            os.kill(os.getpid(), signal.SIGKILL)
    train_checkpoint(lake, tiny_registry(tmp), dataset, config, tmp / "work", {"dagster_run_id": "first"}, on_epoch=die)
""")


@pytest.mark.slow
def test_a_killed_training_resumes_after_its_last_epoch(tmp_path):
    lake, registry = tiny_lake(tmp_path), tiny_registry(tmp_path)
    dataset = tiny_dataset(lake)
    config = TrainConfig(**{**FAST, "epochs": EPOCHS})
    child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), str(REPO_ROOT / "tests"),
                            json.dumps(config.as_dict()), str(KILL_AFTER)],
                           cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    run_dir = run_dir_for(tmp_path / "work", config.fingerprint(dataset.version))
    dead_run = read_state(run_dir)["mlflow_run_id"]
    assert registry.client.get_run(dead_run).info.status == "RUNNING"  # nobody ended it: the process died
    # A kill between Ultralytics writing epoch 2's CSV row and its last.pt leaves a row the checkpoint lacks.
    csv_path = run_dir / "results.csv"
    rows = csv_path.read_text().splitlines()
    assert len(rows) == 1 + KILL_AFTER
    csv_path.write_text("\n".join([*rows, rows[-1].replace(f"{KILL_AFTER},", f"{KILL_AFTER + 1},", 1)]) + "\n")

    trained, messages = [], []
    record = train_checkpoint(lake, registry, dataset, config, tmp_path / "work", {"dagster_run_id": "retry"},
                              on_epoch=lambda epoch, metrics: trained.append(epoch), log=messages.append)

    assert trained == list(range(KILL_AFTER + 1, EPOCHS + 1))
    assert [int(r["epoch"]) for r in read_results_csv(csv_path)] == list(range(1, EPOCHS + 1))
    assert record.resumed_after_epoch == KILL_AFTER and record.epochs == EPOCHS
    dead = registry.client.get_run(dead_run)
    assert dead.info.status == "FAILED" and dead.data.tags["resumed_by_run_id"] == record.mlflow_run_id
    new = registry.client.get_run(record.mlflow_run_id)
    assert new.info.status == "FINISHED" and new.data.tags["resumed_from_run_id"] == dead_run
    # the new run's history is whole: the dead attempt's epoch plus its own
    steps = [m.step for m in registry.client.get_metric_history(record.mlflow_run_id, "train/box_loss")]
    assert sorted(steps) == list(range(1, EPOCHS + 1))
    assert any("resuming" in m for m in messages) and any("FAILED" in m for m in messages)


def test_a_fresh_attempt_never_appends_to_a_stale_results_csv(tmp_path):
    from vision_assets.core.training.resume import prepare_run_dir, write_state

    run_dir = tmp_path / "runs" / "abc"
    (run_dir / "weights").mkdir(parents=True)
    (run_dir / "results.csv").write_text("epoch,time\n1,2.0\n")
    (run_dir / "weights" / "last.pt").write_bytes(b"not a checkpoint: a kill mid-write")
    write_state(run_dir, {"mlflow_run_id": "dead"})
    point = prepare_run_dir(run_dir, epochs=3)
    assert not point.resumable
    assert not (run_dir / "results.csv").exists() and not (run_dir / "weights").exists()
    assert read_state(run_dir) == {"mlflow_run_id": "dead"}  # kept, so the retry can close that run
