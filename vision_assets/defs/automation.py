"""Automation conditions as named constants, so each asset says which policy it follows."""

import dagster as dg

from vision_assets.core.failures import WORKER_DIED  # noqa: F401 - the kind recovery tags a lost worker with

# Carry a scene x day partition forward as soon as its upstream partition materializes.
# (No time dimension here, so eager() is not limited to the latest day.)
CARRY_NEW_PARTITION = dg.AutomationCondition.eager()


def eager_or_when_updated(other: dg.AssetKey) -> dg.AutomationCondition:
    """eager(), and also due when `other` (same partitions, not a dependency) updates its partition. For an asset
    that reads `other` when it has it but must not wait for it, nor be skipped when `other`'s blocking check
    fails: footage_monitoring watches every partition with frames, and computes online rates where QC passed labels."""
    condition = dg.AutomationCondition
    due = (condition.newly_missing() | condition.any_deps_updated()
           | condition.asset_matches(other, condition.newly_updated())).since_last_handled()
    return (due & ~condition.any_deps_missing() & ~condition.any_deps_in_progress()
            & ~condition.in_progress()).with_label("eager, or its partition's labels changed")

# Retraining is driven by the retrain sensor (enough new QC-passed labels), not by every partition update.
NIGHTLY_CRON = "0 2 * * *"

# Runs that still hold their work: sensors do not request the same work again while one exists.
IN_FLIGHT_STATUSES = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                      dg.DagsterRunStatus.STARTED]

INPUTS_TAG = "vision/inputs_fingerprint"  # which input files a sensor-requested run was for

# A failed run is tagged with its kind of failure (core/failures.py), e.g. a run whose process died (kill -9, OOM,
# a lost pod): the kind decides how often and how soon the retry sensor tries the work again (defs/retries.py).
FAILURE_KIND_TAG = "vision/failure"


def hold_back_reason(instance: dg.DagsterInstance, job_name: str, partition_key: str, inputs_fingerprint: str) -> str:
    """Why a sensor should not request this partition's run for these inputs now ("" when it should): one is still
    in flight, or the last one for exactly these inputs failed: then the retry sensor owns it (it tries again when
    due, or says it gave up) and a change to the files is what a new request waits for."""
    from vision_assets.defs.retries import retry_state

    records = instance.get_run_records(dg.RunsFilter(job_name=job_name, tags={"dagster/partition": str(partition_key)}),
                                       limit=20)
    if any(r.dagster_run.status in IN_FLIGHT_STATUSES for r in records):
        return "a run is still in progress"
    for_inputs = [r for r in records if r.dagster_run.tags.get(INPUTS_TAG) == inputs_fingerprint]
    if for_inputs and for_inputs[0].dagster_run.status == dg.DagsterRunStatus.FAILURE:
        return retry_state(instance, for_inputs[0]).describe()
    return ""
