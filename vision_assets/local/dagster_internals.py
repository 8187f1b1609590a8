"""Every private Dagster API the local runtime uses, in one place (the only `dagster._` import in vision_assets).

The in-process daemon (daemon.py), its run creation (launch.py) and the backfill command do what the Dagster daemon
does, in this process: they create ticks, runs with the code location's origin and snapshot, and execute a run's
plan. Dagster has no public API for those; everything else uses the public one (`build_sensor_context`,
`DagsterInstance` methods). automation.py evaluates automation as `evaluate_automation_conditions` does, with the
daemon's cached partition loading for the new cursor (the public helper queries the instance for every subset).
tests/local/test_dagster_internals.py imports each name below and checks the signatures and attributes relied on, so
an upgrade that changes them fails there with the name, not deep inside a run.
"""

from __future__ import annotations

from dagster._core.definitions.asset_daemon_cursor import AssetDaemonCursor  # automation.py: the evaluation's cursor
from dagster._core.definitions.declarative_automation.automation_condition_evaluator import (  # automation.py
    AutomationConditionEvaluator,
)
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.definitions.selector import InstigatorSelector
from dagster._core.event_api import PartitionKeyFilter  # the scene x day grid: latest check results per partition
from dagster._core.execution.api import ExecuteRunWithPlanIterable, create_execution_plan, job_execution_iterator
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.execution.context_creation_job import (
    PlanOrchestrationContextManager,
    orchestration_context_event_generator,
)
from dagster._core.execution.execute_in_process import merge_run_tags
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteInstigatorOrigin, RemoteRepositoryOrigin
from dagster._core.scheduler.instigation import InstigatorTick, InstigatorType, TickData, TickStatus
from dagster._core.storage.asset_check_execution_record import (  # a passing check's severity (defs/checks.py)
    AssetCheckExecutionRecordStatus,
)
from dagster._core.storage.tags import (
    AUTOMATION_CONDITION_TAG,
    PARENT_RUN_ID_TAG,
    RETRY_NUMBER_TAG,
    ROOT_RUN_ID_TAG,
    RUN_KEY_TAG,
    SCHEDULE_NAME_TAG,
    SCHEDULED_EXECUTION_TIME_TAG,
    SENSOR_NAME_TAG,
    TICK_ID_TAG,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.utils import make_new_backfill_id
from dagster._utils.error import serializable_error_info_from_exc_info

__all__ = [
    "AUTOMATION_CONDITION_TAG", "PARENT_RUN_ID_TAG", "RETRY_NUMBER_TAG", "ROOT_RUN_ID_TAG", "RUN_KEY_TAG",
    "SCHEDULED_EXECUTION_TIME_TAG", "SCHEDULE_NAME_TAG", "SENSOR_NAME_TAG", "TICK_ID_TAG",
    "AssetCheckExecutionRecordStatus", "AssetDaemonCursor", "AutomationConditionEvaluator", "BulkActionStatus",
    "ExecuteRunWithPlanIterable", "InMemoryJob", "InProcessCodeLocationOrigin",
    "InstigatorSelector", "InstigatorTick", "InstigatorType", "LoadableTargetOrigin", "PartitionBackfill",
    "PartitionKeyFilter",
    "PlanOrchestrationContextManager", "ReconstructableRepository", "RemoteInstigatorOrigin",
    "RemoteRepositoryOrigin", "TickData", "TickStatus", "create_execution_plan",
    "job_execution_iterator", "make_new_backfill_id", "merge_run_tags", "orchestration_context_event_generator",
    "serializable_error_info_from_exc_info",
]
