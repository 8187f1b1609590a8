"""A real `vision-assets demo` killed with SIGKILL during ingest, sampling or training: the next `demo` finishes
with exactly what an uninterrupted demo gives (same counts, same dataset version, a champion), exits 0, and
leaves no run STARTED and no staged copy behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from helpers import REPO_ROOT, TINY_SPEC

CLI = str(Path(sys.executable).with_name("vision-assets"))
SPEC = TINY_SPEC  # the session's trained world is built from the same footage: it is the clean reference
GIVE_UP_S = 900  # a demo that never reaches the stage is a failure, not a hang

# stage -> (the job whose run must be STARTED, the step that must have begun in it)
STAGES = {
    "ingest": ("ingest_videos", "raw_videos"),
    "sampling": ("__ASSET_JOB", "sampled_frames"),
    "training": ("train_and_register", "trained_checkpoint"),
}


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "MLFLOW_TRACKING_URI")}
    return {**env, "VISION_DATA_DIR": str(data_dir), "VISION_DEMO_SPEC": json.dumps(SPEC), "VISION_EPOCHS": "1",
            "VISION_IMGSZ": "64"}


def _demo(data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "demo"], env=_env(data_dir), cwd=data_dir.parent, capture_output=True, text=True,
                          timeout=GIVE_UP_S)


def _summary(data_dir: Path) -> dict:
    out = subprocess.run([CLI, "summary", "--json"], env=_env(data_dir), cwd=data_dir.parent, capture_output=True,
                         text=True, check=True, timeout=300)
    return json.loads(out.stdout)


def _instance(data_dir: Path) -> dg.DagsterInstance:
    from dagster._core.instance.ref import InstanceRef

    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(data_dir / "dagster_home")))


def _running_step(instance: dg.DagsterInstance, job: str, step: str) -> dg.DagsterRun | None:
    for run in instance.get_runs(dg.RunsFilter(job_name=job, statuses=[dg.DagsterRunStatus.STARTED])):
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START):
            if entry.step_key == step:
                return run
    return None


def _prepare(data_dir: Path, start_from: Path | None) -> None:
    """An empty data folder, or a copy of start_from; either way with the instance config `demo` would write."""
    if start_from is not None:
        shutil.copytree(start_from, data_dir, symlinks=True)
    (data_dir / "dagster_home").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", data_dir / "dagster_home" / "dagster.yaml")


def _kill_demo_at(data_dir: Path, stage: str, start_from: Path | None = None) -> str:
    """Start a demo, wait (polling its instance) until the stage's step runs, SIGKILL its whole process group."""
    job, step = STAGES[stage]
    _prepare(data_dir, start_from)
    instance = _instance(data_dir)  # its schema exists before the demo opens it: no race on creating it
    log = open(data_dir.parent / f"killed_demo_{stage}.log", "w")  # noqa: SIM115 - read on failure
    demo = subprocess.Popen([CLI, "demo"], env=_env(data_dir), cwd=data_dir.parent, start_new_session=True,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + GIVE_UP_S
    try:
        while time.monotonic() < deadline and demo.poll() is None:
            run = _running_step(instance, job, step)
            if run is not None:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait(timeout=60)
                return run.run_id
            time.sleep(0.1)
        log.flush()
        pytest.fail(f"the demo never reached {stage} (exit code {demo.poll()}): "
                    f"{(data_dir.parent / f'killed_demo_{stage}.log').read_text()[-3000:]}")
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()


def _result(summary: dict) -> dict:
    return {k: summary.get(k) for k in ("videos", "video_outcomes", "scenes_x_days", "frames", "annotations_kept",
                                        "annotations_rejected", "dataset_version")}


@pytest.fixture(scope="module")  # the uninterrupted reference: the session's trained world, same footage
def clean_result(trained_world, tmp_path_factory) -> dict:
    data_dir = tmp_path_factory.mktemp("clean") / "data"
    shutil.copytree(trained_world.data_dir, data_dir, symlinks=True)  # `summary` prepares the folder it reads
    summary = _summary(data_dir)
    assert summary["dataset_version"] and summary.get("champion"), summary
    return summary


@pytest.mark.slow  # real demo processes, training included
@pytest.mark.parametrize("stage", list(STAGES))
def test_demo_killed_at_a_stage_is_finished_by_the_next_demo(tmp_path, trained_world, clean_result, stage,
                                                             monkeypatch):
    data_dir = tmp_path / "data"
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))  # dagster.yaml names it; _env drops it again
    # Killed in training, the demo starts where the session's world stood before training (same footage, every
    # stage before training done), so it reaches training without paying for the stages it is not about.
    killed_run = _kill_demo_at(data_dir, stage, trained_world.before_training if stage == "training" else None)
    instance = _instance(data_dir)
    assert instance.get_run_by_id(killed_run).status == dg.DagsterRunStatus.STARTED  # what the kill leaves

    retry = _demo(data_dir)

    assert retry.returncode == 0, retry.stdout[-3000:] + retry.stderr[-3000:]
    assert f"recovered run {killed_run[:8]}" in retry.stdout
    instance = _instance(data_dir)
    dead = instance.get_run_by_id(killed_run)
    assert dead.status == dg.DagsterRunStatus.FAILURE and dead.tags["vision/failure"] == "worker_died"
    redone = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": killed_run}))
    assert [r.status for r in redone] == [dg.DagsterRunStatus.SUCCESS]
    unfinished = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    assert instance.get_runs(dg.RunsFilter(statuses=unfinished)) == []
    summary = _summary(data_dir)
    assert _result(summary) == _result(clean_result)
    assert summary.get("champion"), summary
    staging = data_dir / "lake" / "staging"
    assert not staging.exists() or list(staging.iterdir()) == []


def _dead_worker_identity() -> str:
    """The identity of a process that existed and is gone (a real process, really ended)."""
    from vision_assets.local.launch import process_identity

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    identity = process_identity(child.pid)
    child.kill()
    child.wait()
    return identity


def test_a_run_whose_worker_died_is_failed_and_executed_again(tmp_path, instance, tiny_landing):
    from helpers import settings_for, tiny_definitions

    from vision_assets.defs.automation import INPUTS_TAG, hold_back_reason
    from vision_assets.defs.partitions import scene_day_key
    from vision_assets.local.daemon import LocalDaemon
    from vision_assets.local.launch import WORKER_TAG

    settings = settings_for(tmp_path / "data")
    shutil.copytree(tiny_landing, settings.landing_dir, dirs_exist_ok=True)
    defs = tiny_definitions(settings)
    key = scene_day_key("cam-a", "2026-11-18")
    instance.add_dynamic_partitions("scene_days", [key])
    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    orphan = daemon._create("ingest_videos", key, None, {"dagster/sensor_name": "landing_sensor", INPUTS_TAG: "f1"})
    instance.add_run_tags(orphan.run_id, {WORKER_TAG: _dead_worker_identity()})  # as if its process was killed
    assert hold_back_reason(instance, "ingest_videos", key, "f1") == "a run is still in progress"

    retried = daemon.recover()

    assert daemon.recovered == [orphan.run_id]
    dead = instance.get_run_by_id(orphan.run_id)
    assert dead.status == dg.DagsterRunStatus.FAILURE and dead.tags["vision/failure"] == "worker_died"
    assert [r.success for r in retried] == [True]
    retry = instance.get_run_by_id(retried[0].run_id)
    assert retry.parent_run_id == orphan.run_id == retry.tags["dagster/parent_run_id"]
    assert retry.tags["dagster/retry_number"] == "1"
    assert retry.tags["dagster/sensor_name"] == "retry_sensor" and retry.tags["dagster/partition"] == key
    assert retry.tags["dagster/run_key"] == f"retry:{orphan.run_id}:1" and retry.tags[INPUTS_TAG] == "f1"
    assert key in instance.get_materialized_partitions(dg.AssetKey("raw_videos"))
    # The death is not held against the files; a live run (this process) is not touched.
    assert hold_back_reason(instance, "ingest_videos", key, "f1") == ""
    assert LocalDaemon(defs, instance, log=lambda _: None).recover() == []


def test_a_failed_run_for_the_same_files_is_the_retry_sensors_and_says_what_happens_next(instance):
    from vision_assets.defs.automation import FAILURE_KIND_TAG, INPUTS_TAG, WORKER_DIED, hold_back_reason

    @dg.op
    def nothing():
        pass

    @dg.job
    def some_ingest():
        nothing()

    def failed(**tags):
        return instance.create_run_for_job(some_ingest, status=dg.DagsterRunStatus.FAILURE,
                                           tags={"dagster/partition": "p", INPUTS_TAG: "f1", **tags})

    first = failed()  # no error recorded: an ordinary failure, 3 attempts 5 min apart
    assert "attempt 2 of 3 is due after" in hold_back_reason(instance, some_ingest.name, "p", "f1")
    assert instance.get_run_by_id(first.run_id).tags[FAILURE_KIND_TAG] == "failed"
    failed(**{FAILURE_KIND_TAG: WORKER_DIED, "dagster/retry_number": "2"})  # the third death of this work
    reason = hold_back_reason(instance, some_ingest.name, "p", "f1")
    assert "gave up after 3 attempt(s)" in reason and "re-execute the run from the UI" in reason
    assert hold_back_reason(instance, some_ingest.name, "p", "f2") == ""  # changed files are tried again


@pytest.mark.slow  # real demo processes, training included
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_demo_stopped_during_training_is_finished_by_the_next_demo(tmp_path, trained_world, monkeypatch, stop):
    """Ctrl-C or SIGTERM (what Kubernetes sends first) during training: Dagster fails the run as interrupted; the
    training run is retried by the next demo, which makes a model and exits 0. The demo starts from the session's
    world as it stood before training."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
    job, step = STAGES["training"]
    _prepare(data_dir, trained_world.before_training)
    instance = _instance(data_dir)
    log = tmp_path / "stopped_demo.log"
    with open(log, "w") as out:
        demo = subprocess.Popen([CLI, "demo"], env=_env(data_dir), cwd=tmp_path, start_new_session=True, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + GIVE_UP_S
    try:
        while (run := _running_step(instance, job, step)) is None:
            assert demo.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        os.killpg(demo.pid, stop)
        demo.wait(timeout=GIVE_UP_S)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    assert demo.returncode != 0

    retry = _demo(data_dir)

    assert retry.returncode == 0, retry.stdout[-3000:] + retry.stderr[-3000:]
    instance = _instance(data_dir)
    stopped = instance.get_run_by_id(run.run_id)
    assert stopped.status == dg.DagsterRunStatus.FAILURE and stopped.tags["vision/failure"] == "interrupted"
    redone = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run.run_id}))
    assert [(r.status, r.tags["dagster/sensor_name"]) for r in redone] == [(dg.DagsterRunStatus.SUCCESS, "retry_sensor")]
    assert _summary(data_dir).get("champion")
