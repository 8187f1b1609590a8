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


def hold_back_reason(instance: dg.DagsterInstance, job_name: str, partition_key: str, inputs_fingerprint: str) -> str:
    """Why a sensor should not request this partition's run now ("" when it should): one is still in flight,
    or runs for exactly these inputs already failed MAX_ATTEMPTS times."""
    runs = instance.get_runs(dg.RunsFilter(job_name=job_name, tags={"dagster/partition": str(partition_key)}),
                             limit=MAX_ATTEMPTS + 5)
    if any(r.status in IN_FLIGHT_STATUSES for r in runs):
        return "a run is still in progress"
    failed = [r for r in runs if r.status == dg.DagsterRunStatus.FAILURE and r.tags.get(INPUTS_TAG) == inputs_fingerprint]
    if len(failed) >= MAX_ATTEMPTS:
        return (f"{len(failed)} runs failed for these files (last {failed[0].run_id}); waiting for a change to them")
    return ""
