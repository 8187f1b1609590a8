"""Runs whose process died: found, marked failed, and told apart from runs that failed on their inputs.

Dagster's run monitoring (dagster.yaml) does this in the daemon for launchers that can check a run worker's
health (dagster-k8s). Runs the local daemon executes in its own process, and runs the default launcher
started as local subprocesses, have no such check: a `kill -9` or an OOM kill leaves them STARTED for good,
and sensors hold their work back while a run is "in progress". Here a run counts as dead only when its
process is known and gone from this host; a run on another host, or one whose process cannot be named, is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from vision_assets.defs.automation import FAILURE_KIND_TAG, WORKER_DIED
from vision_assets.local.launch import WORKER_TAG, worker_alive

# NOT_STARTED too: the local daemon creates a pass's runs before it executes them.
UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
              dg.DagsterRunStatus.CANCELING]
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def dead_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    dead = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        if run.tags.get(WORKER_TAG):
            alive = worker_alive(run.tags[WORKER_TAG])
        elif isinstance(instance.run_launcher, dg.DefaultRunLauncher):
            alive = _launched_subprocess_alive(instance, run)
        else:
            alive = None  # the deployment's launcher and run monitoring own it
        if alive is False:
            dead.append(run)
    return dead


def mark_dead_runs_failed(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Each dead run ends FAILED, tagged as a lost worker (not an inputs failure); returns them as they were."""
    dead = dead_runs(instance)
    for run in dead:
        instance.add_run_tags(run.run_id, {FAILURE_KIND_TAG: WORKER_DIED})
        instance.report_run_failed(run, message="The process executing this run is gone (killed or crashed); "
                                                "marked failed so its work can be requested again.")
    free_slots_of_finished_runs(instance)
    return dead


def free_slots_of_finished_runs(instance: dg.DagsterInstance) -> None:
    """A killed step never gives back its pool slot (the one "gpu" slot of training): every later training step
    would wait for it for good. Slots held by runs that have ended go back to their pool."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    holders = list(storage.get_concurrency_run_ids())
    if not holders:
        return
    for record in instance.get_run_records(dg.RunsFilter(run_ids=holders, statuses=FINISHED)):
        storage.free_concurrency_slots_for_run(record.dagster_run.run_id)


def _launched_subprocess_alive(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool | None:
    """The default launcher records its run worker's pid as an engine event ('Started process for run')."""
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        metadata = entry.dagster_event.engine_event_data.metadata if entry.dagster_event else {}
        if "pid" in metadata and entry.dagster_event.message.startswith("Started process for run"):
            return _pid_alive(int(metadata["pid"].value))
    return None


def _pid_alive(pid: int) -> bool:
    """A killed run worker stays a zombie until its parent (the code server) reaps it: that is dead too."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc here: signal 0 is all there is
    return state not in ("Z", "X")
