"""Automation conditions as named constants, so each asset says which policy it follows."""

import dagster as dg

# Carry a scene x day partition forward as soon as its upstream partition materializes.
# (No time dimension here, so eager() is not limited to the latest day.)
CARRY_NEW_PARTITION = dg.AutomationCondition.eager()

# Retraining is driven by the retrain sensor (enough new QC-passed labels), not by every partition update.
NIGHTLY_CRON = "0 2 * * *"

# Runs that still hold their work: sensors do not request the same work again while one exists.
IN_FLIGHT_STATUSES = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                      dg.DagsterRunStatus.STARTED]

# A partition whose run failed this many times for the same input files waits for a change to them.
MAX_ATTEMPTS = 3
INPUTS_TAG = "vision/inputs_fingerprint"  # which input files a sensor-requested run was for

# A run whose process died (kill -9, OOM, a lost pod) is marked failed with this tag: the inputs were not at
# fault, so it does not count towards MAX_ATTEMPTS. Inputs that kill their worker every time (a video that
# exhausts memory) still stop after MAX_WORKER_DEATHS.
FAILURE_KIND_TAG = "vision/failure"
WORKER_DIED = "worker_died"
MAX_WORKER_DEATHS = 3


def hold_back_reason(instance: dg.DagsterInstance, job_name: str, partition_key: str, inputs_fingerprint: str) -> str:
    """Why a sensor should not request this partition's run now ("" when it should): one is still in flight,
    or runs for exactly these inputs already failed MAX_ATTEMPTS times."""
    runs = instance.get_runs(dg.RunsFilter(job_name=job_name, tags={"dagster/partition": str(partition_key)}),
                             limit=MAX_ATTEMPTS + MAX_WORKER_DEATHS + 5)
    if any(r.status in IN_FLIGHT_STATUSES for r in runs):
        return "a run is still in progress"
    failed = [r for r in runs if r.status == dg.DagsterRunStatus.FAILURE and r.tags.get(INPUTS_TAG) == inputs_fingerprint]
    deaths = [r for r in failed if r.tags.get(FAILURE_KIND_TAG) == WORKER_DIED]
    failed = [r for r in failed if r.tags.get(FAILURE_KIND_TAG) != WORKER_DIED]
    if len(failed) >= MAX_ATTEMPTS:
        return (f"{len(failed)} runs failed for these files (last {failed[0].run_id}); waiting for a change to them")
    if len(deaths) >= MAX_WORKER_DEATHS:
        return (f"the process of {len(deaths)} runs for these files died (last {deaths[0].run_id}); "
                "waiting for a change to them")
    return ""
