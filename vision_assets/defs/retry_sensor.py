"""The retry sensor: recovers runs whose worker died and requests again failed work that is still due (retries.py)."""

import time

import dagster as dg

from vision_assets.defs.datasets import training_job
from vision_assets.defs.hard_examples import hard_examples_job
from vision_assets.defs.ingest import ingest_job
from vision_assets.defs.labels import import_labels_job
from vision_assets.defs.resources import MlflowResource
from vision_assets.defs.retries import (
    RETRY_SENSOR,
    TRAINING_JOBS,
    carry_forward_job,
    end_dead_mlflow_runs,
    failed_work,
    retry_request,
)


@dg.sensor(name=RETRY_SENSOR, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           jobs=[carry_forward_job, ingest_job, import_labels_job, training_job, hard_examples_job],
           description="Fails runs whose worker process is gone, ends the MLflow runs failed training left RUNNING, "
                       "and requests again the failed work that is still due, with bounded attempts and pauses by "
                       "the kind of failure (worker lost or interrupted: at once; a service away: 1 min "
                       "doubling to 1 h, 8 attempts; anything else: 3 attempts, 5 min apart).")
def retry_sensor(context: dg.SensorEvaluationContext, mlflow: MlflowResource):
    from vision_assets.local.recovery import mark_dead_runs_failed

    for dead in mark_dead_runs_failed(context.instance):
        context.log.warning(f"run {dead.run_id}: its worker process is gone; marked failed")
    requests, waiting = [], []
    now = time.time()
    for record, state in failed_work(context.instance):
        run = record.dagster_run
        if run.job_name in TRAINING_JOBS:
            try:
                for mlflow_run in end_dead_mlflow_runs(context.instance, mlflow, run):
                    context.log.info(f"MLflow run {mlflow_run} of failed run {run.run_id} ended as FAILED")
            except Exception as error:  # noqa: BLE001 - MLflow away: tried again next tick, the retry goes on
                context.log.warning(f"could not end the MLflow runs of {run.run_id}: {error}")
        if state.exhausted or state.due_at > now:
            waiting.append(state.describe(now))
            continue
        requests.append(retry_request(run, state))
        context.log.info(f"retrying {run.run_id} ({state.kind}): attempt {state.attempts + 1} of {state.max_attempts}")
    for line in waiting:
        context.log.info(line)
    if not requests:
        return dg.SkipReason("; ".join(waiting) if waiting else "no failed work is due")
    return dg.SensorResult(run_requests=requests)
