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
