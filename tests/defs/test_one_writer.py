"""One step, one writer, with a real training process: an attempt still training when its run is failed (what the
retry sensor does once the run worker is gone) is the work folder's owner until it stops; the retry waits for it,
and the stale attempt stops at its next epoch without writing a record. The retry resumes where it stopped: each
epoch once in results.csv, the record's epochs equal to the config's, the record naming the retry's run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import dagster as dg
import pytest
from helpers import REPO_ROOT
from training_helpers import FAST, tiny_dataset, tiny_lake, tiny_registry

from vision_assets.core.lake import keys
from vision_assets.core.training import TrainConfig, read_results_csv, train_checkpoint
from vision_assets.core.training.checkpoint import run_dir_for

EPOCHS = 3
GIVE_UP_S = 600

# The first attempt: trains under its (real) Dagster run, says when epoch 1 is done, waits for the test's go.
FIRST_ATTEMPT = textwrap.dedent("""
    import json, sys, time
    sys.path[:0] = [sys.argv[2]]
    from pathlib import Path
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef
    from training_helpers import tiny_lake, tiny_registry
    from vision_assets.core.training import TrainConfig, train_checkpoint
    from vision_assets.defs.training import attempt_still_wanted
    tmp, config, run_id = Path(sys.argv[1]), TrainConfig(**json.loads(sys.argv[3])), sys.argv[4]
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(sys.argv[5]))
    lake = tiny_lake(tmp)
    from vision_assets.core.records import DatasetVersion
    dataset = DatasetVersion.from_json(lake.read_json("datasets/tinytrain0001/dataset.json"))
    def epoch_done(epoch, metrics):
        print("epoch", epoch, flush=True)
        while epoch == 1 and not (tmp / "go").exists():
            time.sleep(0.1)
    train_checkpoint(lake, tiny_registry(tmp), dataset, config, tmp / "work", {"dagster_run_id": run_id},
                     on_epoch=epoch_done, still_wanted=attempt_still_wanted(instance, run_id))
    print("finished", flush=True)
""")


@pytest.mark.slow  # two real trainings of a few epochs
def test_a_stale_attempt_stops_and_the_retry_alone_writes(tmp_path, instance):
    lake, registry = tiny_lake(tmp_path), tiny_registry(tmp_path)
    dataset = tiny_dataset(lake)
    config = TrainConfig(**{**FAST, "epochs": EPOCHS})

    @dg.op
    def train():
        pass

    @dg.job
    def train_and_register():
        train()

    stale_run = instance.create_run_for_job(train_and_register, status=dg.DagsterRunStatus.STARTED)
    first = subprocess.Popen([sys.executable, "-c", FIRST_ATTEMPT, str(tmp_path), str(REPO_ROOT / "tests"),
                              json.dumps(config.as_dict()), stale_run.run_id, instance.root_directory],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        output = []
        for line in first.stdout:
            output.append(line)
            if line.strip() == "epoch 1":
                break
        assert output and output[-1].strip() == "epoch 1", "".join(output)[-3000:]

        messages: list[str] = []
        waiting = threading.Event()

        def log(message: str) -> None:
            messages.append(message)
            if "waiting for it to stop" in message:
                waiting.set()

        def fail_stale_run_once_the_retry_waits() -> None:
            assert waiting.wait(GIVE_UP_S)
            instance.report_run_failed(stale_run)  # the run is over: its attempt must not write
            (tmp_path / "go").touch()

        helper = threading.Thread(target=fail_stale_run_once_the_retry_waits)
        helper.start()
        record = train_checkpoint(lake, registry, dataset, config, tmp_path / "work", {"dagster_run_id": "retry"},
                                  log=log)
        helper.join()
        rest = first.communicate(timeout=GIVE_UP_S)[0]
    finally:
        if first.poll() is None:
            first.kill()

    assert first.returncode != 0 and "AttemptSuperseded" in rest and f"run {stale_run.run_id} is FAILURE" in rest
    assert "finished" not in rest and "epoch 3" not in rest
    assert any(f"taking over from pid {first.pid}" in m for m in messages), messages
    run_dir = run_dir_for(tmp_path / "work", config.fingerprint(dataset.version))
    assert [int(r["epoch"]) for r in read_results_csv(run_dir / "results.csv")] == list(range(1, EPOCHS + 1))
    assert record.epochs == EPOCHS and record.resumed_after_epoch == 2 and record.dagster_run_id == "retry"
    assert lake.read_json(keys.checkpoint_record_key(record.fingerprint))["mlflow_run_id"] == record.mlflow_run_id
    stale_mlflow = registry.client.get_run(record.mlflow_run_id).data.tags["resumed_from_run_id"]
    assert registry.client.get_run(stale_mlflow).info.status == "FAILED"
