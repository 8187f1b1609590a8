"""A failed run is never final for work that is still due: the retry sensor requests it again, as often and as soon
as its kind of failure allows (core/failures.py), under `make ui` and in every `demo`/`ingest` pass alike.

A failed run is a candidate while it is the latest attempt at its work (no newer run of the same job, partition and
assets), the work is not done since (its assets have no newer materialization), and nothing is in flight for it.
Its retry carries Dagster's retry tags (parent, root, retry number) and the run key `retry:<root>:<attempt>`, so two
ticks never request the same attempt twice. Before that, the sensor fails runs whose worker process is gone (a
killed run worker under `make ui`; the local launcher has no health check) and ends the MLflow runs failed training
runs left RUNNING."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import dagster as dg

from vision_assets.core.failures import FAILED, POLICIES, WHAT_TO_DO, WORKER_DIED, failure_kind
from vision_assets.defs import keys
from vision_assets.defs.automation import FAILURE_KIND_TAG, IN_FLIGHT_STATUSES
from vision_assets.defs.partitions import scene_day
from vision_assets.defs.resources import MlflowResource

TRAINING_JOBS = {"train_and_register"}  # their failed runs may leave MLflow runs RUNNING

RETRY_SENSOR = "retry_sensor"
WINDOW = dt.timedelta(days=7)  # failures older than this are history, not due work
PARENT_TAG, ROOT_TAG, RETRY_NUMBER_TAG = "dagster/parent_run_id", "dagster/root_run_id", "dagster/retry_number"
MLFLOW_CLOSED_TAG = "vision/mlflow_runs_ended"
# Tags a retry does not inherit: Dagster and the sensor set them per run.
PER_RUN_TAGS = {"vision/worker", PARENT_TAG, ROOT_TAG, RETRY_NUMBER_TAG, FAILURE_KIND_TAG, MLFLOW_CLOSED_TAG,
                "dagster/run_key", "dagster/sensor_name", "dagster/schedule_name", "dagster/tick",
                "dagster/from_automation_condition", ".dagster/scheduled_execution_time", "dagster/backfill",
                "dagster/automation_condition_evaluation_id"}

# Runs the automation sensor asked for run as the implicit asset job; their retries name the partitioned assets.
carry_forward_job = dg.define_asset_job(
    "carry_forward", selection=dg.AssetSelection.assets(keys.SAMPLED_FRAMES, keys.ANNOTATIONS, keys.QC_ANNOTATIONS),
    partitions_def=scene_day, description="Retries of frames, labels and QC runs that failed (retry_sensor).")
ASSET_JOB = "__ASSET_JOB"


@dataclass(frozen=True)
class RetryState:
    run_id: str
    job_name: str
    kind: str
    attempts: int  # attempts made so far, the failed one included
    max_attempts: int
    due_at: float  # when the next attempt may start (inf: retries exhausted)
    error: str

    @property
    def exhausted(self) -> bool:
        return self.attempts >= self.max_attempts

    def describe(self, now: float | None = None) -> str:
        """One line: which run failed, why, and what happens next (or what a person does)."""
        return f"run {self.run_id[:8]} ({self.job_name}) {self.outcome(now)}"

    def outcome(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        what = f"failed ({self.kind}{': ' + self.error if self.error else ''})"
        if self.exhausted:
            return f"{what}; gave up after {self.attempts} attempt(s): {WHAT_TO_DO[self.kind]} (run {self.run_id})"
        when = "now" if self.due_at <= now else (
            f"after {dt.datetime.fromtimestamp(self.due_at, dt.UTC):%H:%M:%S} UTC (in {int(self.due_at - now) + 1} s)")
        return (f"{what}; attempt {self.attempts + 1} of {self.max_attempts} is due {when}: the retry_sensor under "
                "`make ui`, or the next `ingest`/`demo`, starts it")


def run_errors(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(exception class, message) of the run's step and run failures, causes and contexts included."""
    errors = []
    for event_type in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE):
        for entry in instance.all_logs(run_id, of_type=event_type):
            data = entry.dagster_event.event_specific_data if entry.dagster_event else None
            error = getattr(data, "error", None)
            while error is not None:
                errors.append((error.cls_name or "", error.message or ""))
                error = error.cause or error.context
            if entry.dagster_event and entry.dagster_event.message:
                errors.append(("", entry.dagster_event.message))
    # The code server says how a run worker it started ended ("Run execution process ... terminated by signal 9").
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        message = entry.dagster_event.message if entry.dagster_event else ""
        if message and "Run execution process" in message:
            errors.append(("", message))
    return errors


def run_failure_kind(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """The kind a failed run's failure is of; recorded as a tag once known (the UI shows it, later reads skip this)."""
    if run.tags.get(FAILURE_KIND_TAG) in POLICIES:
        return run.tags[FAILURE_KIND_TAG]
    kind = failure_kind(run_errors(instance, run.run_id))
    instance.add_run_tags(run.run_id, {FAILURE_KIND_TAG: kind})
    return kind


def retry_state(instance: dg.DagsterInstance, record: dg.RunRecord) -> RetryState:
    run = record.dagster_run
    kind = run_failure_kind(instance, run)
    policy = POLICIES.get(kind, POLICIES[FAILED])
    attempts = int(run.tags.get(RETRY_NUMBER_TAG, "0")) + 1
    ended = record.end_time or record.update_timestamp.timestamp()
    errors = [m for _, m in run_errors(instance, run.run_id) if m and kind != WORKER_DIED]
    return RetryState(run.run_id, run.job_name, kind, attempts, policy.max_attempts,
                      ended + policy.pause_before(attempts + 1) if attempts < policy.max_attempts else float("inf"),
                      " ".join(errors[0].split())[:160] if errors else "")


def _partition_filter(run: dg.DagsterRun) -> dict:
    return {"dagster/partition": run.tags["dagster/partition"]} if "dagster/partition" in run.tags else {}


def latest_attempt(instance: dg.DagsterInstance, record: dg.RunRecord) -> bool:
    """No newer run of the same job, partition and assets exists (a newer one did, or is doing, this work)."""
    run = record.dagster_run
    if instance.get_runs(dg.RunsFilter(tags={PARENT_TAG: run.run_id}), limit=1):
        return False  # retried already (a retry of an automation run runs as carry_forward, another job)
    newer = instance.get_run_records(dg.RunsFilter(job_name=run.job_name, tags=_partition_filter(run),
                                                   created_after=record.create_timestamp), limit=20)
    return not any(r.dagster_run.run_id != run.run_id and r.dagster_run.asset_selection == run.asset_selection
                   for r in newer)


def work_done_since(instance: dg.DagsterInstance, record: dg.RunRecord) -> bool:
    """Every asset the run was to materialize was materialized (for its partition) after it failed, by any run."""
    run = record.dagster_run
    assets = run.asset_selection or set()
    if not assets:
        return False
    partition = run.tags.get("dagster/partition")
    after = record.end_time or record.update_timestamp.timestamp()
    return all(instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None, after_timestamp=after),
        limit=1).records for key in assets)


def failed_work(instance: dg.DagsterInstance) -> list[tuple[dg.RunRecord, RetryState]]:
    """Failed runs whose work is still due, oldest first, with their retry state (due or not, exhausted or not)."""
    since = dt.datetime.now(dt.UTC) - WINDOW
    records = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], updated_after=since),
                                       limit=500)
    found = []
    for record in sorted(records, key=lambda r: r.create_timestamp):
        run = record.dagster_run
        if "dagster/backfill" in run.tags:  # a backfill's failed partitions are the backfill's to rerun
            continue
        if not latest_attempt(instance, record) or work_done_since(instance, record):
            continue
        if instance.get_runs(dg.RunsFilter(job_name=run.job_name, tags=_partition_filter(run),
                                           statuses=IN_FLIGHT_STATUSES), limit=1):
            continue
        found.append((record, retry_state(instance, record)))
    return found


def retry_request(run: dg.DagsterRun, state: RetryState) -> dg.RunRequest:
    root = run.tags.get(ROOT_TAG) or run.run_id
    tags = {k: v for k, v in run.tags.items() if k not in PER_RUN_TAGS and not k.startswith("dagster/partition")}
    tags.update({PARENT_TAG: run.run_id, ROOT_TAG: root, RETRY_NUMBER_TAG: str(state.attempts),
                 "vision/retry_of_kind": state.kind})
    job_name = carry_forward_job.name if run.job_name == ASSET_JOB else run.job_name
    return dg.RunRequest(run_key=f"retry:{root}:{state.attempts}", job_name=job_name,
                         partition_key=run.tags.get("dagster/partition"),
                         asset_selection=sorted(run.asset_selection) if run.asset_selection else None, tags=tags)


def end_dead_mlflow_runs(instance: dg.DagsterInstance, mlflow: MlflowResource, run: dg.DagsterRun) -> list[str]:
    """MLflow runs a failed Dagster run left RUNNING (its training process died or was stopped) end as FAILED."""
    if run.tags.get(MLFLOW_CLOSED_TAG):
        return []
    registry = mlflow.registry()
    ended = []
    for found in registry.client.search_runs([registry.experiment_id()],
                                             filter_string=f"tags.dagster_run_id = '{run.run_id}' "
                                                           "and attributes.status = 'RUNNING'"):
        registry.client.set_terminated(found.info.run_id, status="FAILED")
        registry.client.set_tag(found.info.run_id, "failure", f"Dagster run {run.run_id} failed; ended by the "
                                                              "retry_sensor")
        ended.append(found.info.run_id)
    instance.add_run_tags(run.run_id, {MLFLOW_CLOSED_TAG: str(len(ended))})
    return ended
