"""The private Dagster APIs the local runtime relies on are still there, with the parameters, fields and members it
uses. When an upgrade changes one, this test names it (instead of a run failing somewhere inside the in-process
daemon); vision_assets/local/dagster_internals.py is then the one module to adapt."""

from __future__ import annotations

import inspect
import pathlib

import dagster as dg
import pytest

from vision_assets.local import dagster_internals as internals

# name -> parameters vision_assets passes by keyword (or positionally, in this order)
CALLED_WITH = {
    "merge_run_tags": ["job_def", "partition_key", "tags", "asset_selection", "instance", "run_config"],
    "create_execution_plan": ["job", "run_config", "instance_ref"],
    "ExecuteRunWithPlanIterable": ["execution_plan", "iterator", "execution_context_manager"],
    "PlanOrchestrationContextManager": ["context_event_generator", "job", "execution_plan", "dagster_run", "instance",
                                        "run_config", "executor_defs", "output_capture", "raise_on_error"],
    "InMemoryJob": ["job_def"],
    "InProcessCodeLocationOrigin": ["loadable_target_origin", "location_name"],
    "TickData": ["instigator_origin_id", "instigator_name", "instigator_type", "status", "timestamp", "selector_id"],
    "InstigatorTick": ["tick_id", "tick_data"],
    "serializable_error_info_from_exc_info": ["exc_info"],
    "ReconstructableRepository.for_file": ["file", "fn_name", "working_directory"],
    "PartitionBackfill.from_asset_partitions": ["backfill_id", "asset_graph", "partition_names", "asset_selection",
                                                "backfill_timestamp", "tags", "dynamic_partitions_store",
                                                "all_partitions", "title", "description", "run_config"],
    "TickData.with_status": ["status"],
    "TickData.with_run_info": ["run_id"],
    "TickData.with_cursor": ["cursor"],
    "AutomationConditionEvaluator": ["entity_keys", "instance", "asset_graph", "cursor", "emit_backfills",
                                     "evaluation_id", "evaluation_time", "logger"],
    "AssetDaemonCursor.empty": [],
    "AssetDaemonCursor.with_updates": ["evaluation_id", "evaluation_timestamp", "newly_observe_requested_asset_keys",
                                       "condition_cursors", "asset_graph"],
}
# record types built by field name
FIELDS = {
    "RemoteRepositoryOrigin": ["code_location_origin", "repository_name"],
    "RemoteInstigatorOrigin": ["repository_origin", "instigator_name"],
    "InstigatorSelector": ["location_name", "repository_name", "name"],
    "LoadableTargetOrigin": ["executable_path", "python_file", "working_directory"],
    "PartitionKeyFilter": ["key"],
}
# attributes and methods read or called on them
ATTRIBUTES = {
    "TickStatus": ["STARTED", "SUCCESS", "SKIPPED", "FAILURE"],
    "InstigatorType": ["SENSOR", "SCHEDULE"],
    "BulkActionStatus": ["COMPLETED_SUCCESS", "COMPLETED_FAILED"],
    "AssetCheckExecutionRecordStatus": ["FAILED"],
    "PartitionBackfill": ["with_status", "with_end_timestamp", "backfill_id"],
    "ReconstructableRepository": ["get_python_origin"],
    "RemoteRepositoryOrigin": ["get_job_origin"],
    "RemoteInstigatorOrigin": ["get_id"],
    "InstigatorSelector": ["get_id"],
    "AutomationConditionEvaluator": ["evaluate", "evaluation_time"],  # and asset_graph_view, set per instance
    "AssetDaemonCursor": ["evaluation_id"],
}
# the tag names Dagster itself writes and reads (the UI filters runs by them)
TAGS = {
    "RUN_KEY_TAG": "dagster/run_key", "SENSOR_NAME_TAG": "dagster/sensor_name",
    "SCHEDULE_NAME_TAG": "dagster/schedule_name", "TICK_ID_TAG": "dagster/tick",
    "PARENT_RUN_ID_TAG": "dagster/parent_run_id", "ROOT_RUN_ID_TAG": "dagster/root_run_id",
    "RETRY_NUMBER_TAG": "dagster/retry_number", "AUTOMATION_CONDITION_TAG": "dagster/from_automation_condition",
    "SCHEDULED_EXECUTION_TIME_TAG": ".dagster/scheduled_execution_time",
}


def _resolve(dotted: str):
    target = internals
    for part in dotted.split("."):
        target = getattr(target, part)
    return target


@pytest.mark.parametrize("name", sorted(CALLED_WITH))
def test_private_callables_take_the_parameters_we_pass(name):
    parameters = inspect.signature(_resolve(name)).parameters
    missing = [p for p in CALLED_WITH[name] if p not in parameters]
    assert not missing, (f"Dagster {dg.__version__} changed {name}: no parameter(s) {missing} (has {list(parameters)}); "
                         "adapt vision_assets/local/dagster_internals.py and its callers")


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_private_records_have_the_fields_we_set(name):
    fields = getattr(_resolve(name), "_fields", None) or list(inspect.signature(_resolve(name)).parameters)
    missing = [f for f in FIELDS[name] if f not in fields]
    assert not missing, f"Dagster {dg.__version__} changed {name}: no field(s) {missing} (has {list(fields)})"


@pytest.mark.parametrize("name", sorted(ATTRIBUTES))
def test_private_types_have_the_members_we_use(name):
    target = _resolve(name)
    missing = [a for a in ATTRIBUTES[name] if not hasattr(target, a) and a not in getattr(target, "_fields", ())
               and a not in getattr(target, "__annotations__", {})]
    assert not missing, f"Dagster {dg.__version__} changed {name}: no member(s) {missing}"


def test_run_tags_keep_their_names():
    changed = {name: getattr(internals, name) for name, value in TAGS.items() if getattr(internals, name) != value}
    assert not changed, f"Dagster {dg.__version__} renamed run tags the UI and vision_assets read: {changed}"


def test_the_automation_evaluator_keeps_its_partition_loading_context():
    """automation.py builds the new cursor in the evaluator's own partition loading context (its cached store), as
    the daemon's tick does; and hands it to the public result type's constructor."""
    instance = dg.DagsterInstance.ephemeral()
    graph = dg.Definitions(assets=[dg.AssetSpec("a")]).resolve_asset_graph()
    evaluator = internals.AutomationConditionEvaluator(
        entity_keys=set(), instance=instance, asset_graph=graph, cursor=internals.AssetDaemonCursor.empty(),
        emit_backfills=False, evaluation_id=0)
    context = getattr(getattr(evaluator, "asset_graph_view", None), "partition_loading_context", None)
    assert context is not None, (f"Dagster {dg.__version__}: AutomationConditionEvaluator.asset_graph_view."
                                 "partition_loading_context is gone; adapt vision_assets/local/automation.py")
    parameters = inspect.signature(dg.EvaluateAutomationConditionsResult).parameters
    missing = [p for p in ("cursor", "results", "requested_subsets", "partition_loading_context") if p not in parameters]
    assert not missing, f"Dagster {dg.__version__} changed EvaluateAutomationConditionsResult: no parameter(s) {missing}"


def test_no_other_module_imports_private_dagster_apis():
    package = pathlib.Path(internals.__file__).resolve().parents[1]
    importers = sorted(str(path.relative_to(package.parent)) for path in package.rglob("*.py")
                       if path.name != "dagster_internals.py" and "dagster._" in path.read_text())
    assert importers == [], f"private Dagster APIs imported outside vision_assets/local/dagster_internals.py: {importers}"
