"""One pass of what the Dagster daemon does, in-process, for running without servers (`vision-assets demo` / `ingest`).

The same sensor, automation and schedule definitions decide what runs; their run requests execute in this
process on the configured instance. As with the real daemon, each evaluation is recorded as a tick and each
run carries the sensor or schedule that asked for it and the code location's job snapshot (launch.py), so
the UI shows them as automation. A pass starts by recovering: runs whose process died are marked failed
(recovery.py), then one tick of the retry sensor requests again the failed work that is due (defs/retries.py).
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import dagster as dg

from vision_assets.defs.automation import IN_FLIGHT_STATUSES
from vision_assets.defs.retries import RETRY_SENSOR, failed_work
from vision_assets.local.automation import evaluate_automation
from vision_assets.local.dagster_internals import (
    AUTOMATION_CONDITION_TAG,
    PARENT_RUN_ID_TAG,
    RUN_KEY_TAG,
    SCHEDULE_NAME_TAG,
    SCHEDULED_EXECUTION_TIME_TAG,
    SENSOR_NAME_TAG,
    TICK_ID_TAG,
    InstigatorTick,
    InstigatorType,
    TickData,
    TickStatus,
    serializable_error_info_from_exc_info,
)
from vision_assets.local.launch import (
    ASSET_JOB,
    CodeLocationIdentity,
    create_daemon_run,
    execute_daemon_run,
)
from vision_assets.local.recovery import mark_dead_runs_failed

# Step-level events stay in the instance (and the UI); the terminal gets one line per run (and per failed step, no
# stack trace: Dagster's console logger would print two for a failed blocking check).
AUTOMATION_CURSOR_KEY = "vision_assets/local_automation_cursor"
SENSOR_CURSOR_PREFIX = "vision_assets/local_sensor_cursor/"
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class RunOutcome:
    job: str
    partition: str | None
    success: bool
    run_id: str
    assets: list[str] = field(default_factory=list)


class LocalDaemon:
    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, log: Callable[[str], None] = print):
        self.defs = defs
        self.instance = instance
        self.log = log
        self.runs: list[RunOutcome] = []
        self.recovered: list[str] = []  # runs of an earlier, killed pass that this pass marked failed
        self.identity = CodeLocationIdentity(defs.get_repository_def().name)

    # -- execution ----------------------------------------------------------------------------------
    def execute(self, job_name: str, partition_key: str | None = None, assets: list[dg.AssetKey] | None = None,
                tags: Mapping[str, str] | None = None) -> RunOutcome:
        return self._execute_all([self._create(job_name, partition_key, assets, tags or {})])[0]

    def _create(self, job_name: str, partition_key: str | None, assets: list[dg.AssetKey] | None,
                tags: Mapping[str, str], parent: dg.DagsterRun | None = None) -> dg.DagsterRun:
        return create_daemon_run(self.defs, self.instance, self.identity, job_name, partition_key, assets, tags,
                                 QUIET_CONSOLE, parent=parent)

    def _execute_all(self, runs: list[dg.DagsterRun]) -> list[RunOutcome]:
        return [self._execute_created(run) for run in runs]

    def _execute_created(self, run: dg.DagsterRun) -> RunOutcome:
        events = execute_daemon_run(self.defs, self.instance, run)
        status = self.instance.get_run_by_id(run.run_id).status
        partition = run.tags.get("dagster/partition")
        names = sorted(k.to_user_string() for k in run.asset_selection) if run.asset_selection else [run.job_name]
        outcome = RunOutcome(run.job_name, partition, status == dg.DagsterRunStatus.SUCCESS, run.run_id, names)
        self.runs.append(outcome)
        self.log(f"  run {run.run_id[:8]} {'ok' if outcome.success else 'FAILED'}: {', '.join(names)}"
                 + (f" [{partition}]" if partition else ""))
        for event in events:
            if event.is_step_failure:
                error = event.event_specific_data.error
                if error.cls_name == "DagsterAssetCheckFailedError":  # which check and why: the caller's report
                    checks = error.message.strip().splitlines()[1:]
                    self.log(f"    {event.step_key}: blocking check failed: {', '.join(c.strip() for c in checks)}")
                else:
                    self.log(f"    {event.step_key}: {' '.join(error.message.split())}")
        return outcome

    def _run_requests(self, job_name: str | None, requests: list[dg.RunRequest],
                      instigator_tags: Mapping[str, str]) -> list[str]:
        created = []
        for request in requests:
            tags = {**request.tags, **instigator_tags}
            if request.run_key:
                if self._run_key_used(instigator_tags, request.run_key):
                    self.log(f"  run key {request.run_key} already has a run; skipped (as the daemon does)")
                    continue
                tags[RUN_KEY_TAG] = request.run_key
            parent = self.instance.get_run_by_id(tags[PARENT_RUN_ID_TAG]) if PARENT_RUN_ID_TAG in tags else None
            created.append(self._create(request.job_name or job_name, request.partition_key, request.asset_selection,
                                        tags, parent=parent))
        self._execute_all(created)
        return [run.run_id for run in created]

    def _run_key_used(self, instigator_tags: Mapping[str, str], run_key: str) -> bool:
        name_tag = {k: v for k, v in instigator_tags.items() if k in (SENSOR_NAME_TAG, SCHEDULE_NAME_TAG)}
        return bool(self.instance.get_runs(dg.RunsFilter(tags={**name_tag, RUN_KEY_TAG: run_key}), limit=1))

    # -- recovery -------------------------------------------------------------------------------------
    def recover(self) -> list[RunOutcome]:
        """Before new work: runs an earlier pass left behind when its process died are marked failed, then one tick
        of the retry sensor requests again the failed work that is due (the same sensor the daemon runs under
        `make ui`, see defs/retries.py); returns the outcomes of those retries."""
        dead = mark_dead_runs_failed(self.instance)
        self.recovered = [run.run_id for run in dead]
        for run in sorted(dead, key=lambda r: self.instance.get_run_record_by_id(r.run_id).create_timestamp):
            self.log(f"recovered run {run.run_id[:8]} ({run.job_name}"
                     + (f" [{run.tags['dagster/partition']}]" if "dagster/partition" in run.tags else "")
                     + "): its process died; marked failed")
        before = len(self.runs)
        self.sensor_tick(RETRY_SENSOR)
        return self.runs[before:]

    def unfinished(self, training: bool = False) -> list[str]:
        """Requested work that is still missing after this pass (empty when everything asked for is done), each
        with what happens next: failed runs (when they are retried, or that retries gave up and what to do),
        partitions that landed but were not carried through, and with training=True a dataset version that never
        got its model."""
        states = {record.dagster_run.run_id: state for record, state in failed_work(self.instance)}
        missing = []
        for outcome in self.runs:
            if outcome.success:
                continue
            what = f"run {outcome.run_id[:8]} ({', '.join(outcome.assets)}" + (
                f" [{outcome.partition}])" if outcome.partition else ")")
            state = states.pop(outcome.run_id, None)
            missing.append(f"{what} {state.outcome()}" if state else f"{what} failed")
        missing += [f"earlier {state.describe()}" for state in states.values()]
        in_flight = self.instance.get_runs(dg.RunsFilter(statuses=IN_FLIGHT_STATUSES), limit=1)
        if in_flight:
            return missing  # another process is still working; what it will produce is not missing yet
        graph = self.defs.resolve_asset_graph()
        roots = [k for k in graph.materializable_asset_keys if graph.get(k).partitions_def is not None
                 and not graph.get(k).parent_keys]
        for root in roots:
            landed = self.instance.get_materialized_partitions(root)
            for key in sorted(k for k in graph.materializable_asset_keys
                              if graph.get(k).automation_condition is not None and graph.get(k).partitions_def is not None
                              and not self._waits_for_a_model(graph, k)):
                absent = sorted(landed - self.instance.get_materialized_partitions(key))
                if absent:
                    missing.append(f"{key.to_user_string()}: {len(absent)} partition(s) not materialized "
                                   f"({', '.join(absent[:5])}{', ...' if len(absent) > 5 else ''})")
        if training:
            missing += self._model_missing()
        return missing

    def _waits_for_a_model(self, graph, key: dg.AssetKey) -> bool:
        """A partitioned asset that reads an unpartitioned one never materialized (footage_monitoring before the first
        registered_model) is not due yet: its partitions are not missing."""
        return any(graph.get(parent).partitions_def is None
                   and self.instance.get_latest_materialization_event(parent) is None
                   for parent in graph.get(key).parent_keys)

    def _model_missing(self) -> list[str]:
        from vision_assets.defs import keys

        def latest(key: dg.AssetKey) -> int:
            records = self.instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1).records
            return records[0].storage_id if records else 0

        dataset = latest(keys.DATASET_SPLIT)
        if dataset and latest(keys.REGISTERED_MODEL) < dataset:
            return ["the latest dataset version has no registered model"]
        return []

    # -- ticks ------------------------------------------------------------------------------------------
    def _start_tick(self, name: str, kind: InstigatorType, timestamp: float | None = None) -> InstigatorTick:
        origin_id, selector_id = self.identity.instigator_ids(name)
        return self.instance.create_tick(TickData(
            instigator_origin_id=origin_id, instigator_name=name, instigator_type=kind, status=TickStatus.STARTED,
            timestamp=timestamp or time.time(), selector_id=selector_id))

    def _end_tick(self, tick: InstigatorTick, run_ids: list[str], skip_reason: str | None = None,
                  cursor: str | None = None, error: Exception | None = None) -> None:
        data = tick.tick_data
        for run_id in run_ids:
            data = data.with_run_info(run_id=run_id)
        status = (TickStatus.FAILURE if error else TickStatus.SUCCESS if run_ids else TickStatus.SKIPPED)
        extra = {"error": serializable_error_info_from_exc_info(sys.exc_info())} if error is not None else {}
        data = data.with_status(status, end_timestamp=time.time(), skip_reason=skip_reason, **extra)
        if cursor is not None:
            data = data.with_cursor(cursor)
        self.instance.update_tick(InstigatorTick(tick.tick_id, data))

    # -- instigators ------------------------------------------------------------------------------------
    def _sensor_result(self, name: str):
        sensor = self.defs.resolve_sensor_def(name)
        key = f"{SENSOR_CURSOR_PREFIX}{name}"
        cursor = self.instance.daemon_cursor_storage.get_cursor_values({key}).get(key)
        # The ref lets the sensor load partitions (notes/dagster.md); the instance itself spares a new one per tick
        # (opening its storages checks their migrations: a few hundred ms each).
        with dg.build_sensor_context(instance=self.instance, instance_ref=self.instance.get_ref(),
                                     definitions=self.defs, resources=self._resources_for(sensor),
                                     cursor=cursor) as context:
            result = sensor(context)
        if isinstance(result, dg.SensorResult):
            for event in result.asset_events or []:
                self.instance.report_runless_asset_event(event)
            if result.cursor is not None:
                self.instance.daemon_cursor_storage.set_cursor_values({key: result.cursor})
        return sensor, result

    def _resources_for(self, instigator: dg.SensorDefinition | dg.ScheduleDefinition) -> dict:
        """The resources a sensor or schedule asks for (and those they need in turn): the context initializes every
        resource it is given on each tick, ~65 ms CPU for all thirteen."""
        wanted, resources = set(instigator.required_resource_keys), self.defs.resources or {}
        while missing := {dependency for key in wanted if key in resources
                          for dependency in getattr(resources[key], "required_resource_keys", ())} - wanted:
            wanted |= missing
        return {key: resource for key, resource in resources.items() if key in wanted}

    def sensor_tick(self, name: str) -> int:
        tick = self._start_tick(name, InstigatorType.SENSOR)
        try:
            sensor, result = self._sensor_result(name)
        except Exception as error:
            self._end_tick(tick, [], error=error)
            raise
        cursor = result.cursor if isinstance(result, dg.SensorResult) else None
        if result is None or isinstance(result, dg.SkipReason):
            reason = getattr(result, "skip_message", None) or "nothing to do"
            self.log(f"{name}: {reason}")
            self._end_tick(tick, [], skip_reason=reason)
            return 0
        if isinstance(result, dg.SensorResult) and result.skip_reason and not result.run_requests:
            self.log(f"{name}: {result.skip_reason.skip_message}")
            self._end_tick(tick, [], skip_reason=result.skip_reason.skip_message, cursor=cursor)
            return 0
        requests = result.run_requests if isinstance(result, dg.SensorResult) else list(result)
        for request in getattr(result, "dynamic_partitions_requests", None) or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            self.log(f"{name}: new {request.partitions_def_name}: {', '.join(request.partition_keys)}")
        self.log(f"{name}: {len(requests)} run request(s)")
        run_ids = self._run_requests(_single_job(sensor), requests or [],
                                     {SENSOR_NAME_TAG: name, TICK_ID_TAG: str(tick.tick_id)})
        self._end_tick(tick, run_ids, cursor=cursor)
        return len(requests or [])

    def schedule_tick(self, name: str) -> int:
        schedule = self.defs.resolve_schedule_def(name)
        now = dt.datetime.now(dt.UTC)
        tick = self._start_tick(name, InstigatorType.SCHEDULE, timestamp=now.timestamp())
        try:
            with dg.build_schedule_context(instance=self.instance, resources=self._resources_for(schedule),
                                           scheduled_execution_time=now) as context:
                result = schedule(context)
        except Exception as error:
            self._end_tick(tick, [], error=error)
            raise
        if isinstance(result, dg.SkipReason):
            self.log(f"{name}: {result.skip_message}")
            self._end_tick(tick, [], skip_reason=result.skip_message)
            return 0
        requests = list(result or [])
        self.log(f"{name}: {len(requests)} run request(s)")
        run_ids = self._run_requests(schedule.job_name, requests,
                                     {SCHEDULE_NAME_TAG: name, TICK_ID_TAG: str(tick.tick_id),
                                      SCHEDULED_EXECUTION_TIME_TAG: now.isoformat()})
        self._end_tick(tick, run_ids)
        return len(requests)

    def automation_cursor(self):
        """The cursor left by the previous local pass, so work an interrupted pass left half-done is carried on.

        Without one, declarative automation has no previous evaluation to compare with; a baseline is taken
        before anything changes."""
        stored = self.instance.daemon_cursor_storage.get_cursor_values({AUTOMATION_CURSOR_KEY}).get(AUTOMATION_CURSOR_KEY)
        if stored:
            try:
                return dg.deserialize_value(stored)
            except Exception as error:  # noqa: BLE001 - a cursor from another Dagster version: start afresh
                self.log(f"automation: stored cursor unreadable ({error}); taking a new baseline")
        return self._save(evaluate_automation(self.defs, self.instance).cursor)

    def _save(self, cursor):
        self.instance.daemon_cursor_storage.set_cursor_values({AUTOMATION_CURSOR_KEY: dg.serialize_value(cursor)})
        return cursor

    def _automation_sensor_name(self) -> str:
        names = [s.name for s in self.defs.sensors or [] if isinstance(s, dg.AutomationConditionSensorDefinition)]
        return names[0] if names else "default_automation_condition_sensor"

    def automation_until_quiet(self, cursor, max_ticks: int = 10) -> None:
        sensor_name = self._automation_sensor_name()
        for _ in range(max_ticks):
            tick = self._start_tick(sensor_name, InstigatorType.SENSOR)
            result = evaluate_automation(self.defs, self.instance, cursor)
            by_partition: dict[str, list[dg.AssetKey]] = defaultdict(list)
            for asset_key in self.defs.resolve_all_asset_keys():
                for partition in result.get_requested_partitions(asset_key):
                    by_partition[partition].append(asset_key)
            tags = {SENSOR_NAME_TAG: sensor_name, TICK_ID_TAG: str(tick.tick_id), AUTOMATION_CONDITION_TAG: "true",
                    "vision/automation": "local"}
            # The runs exist before the cursor says they were requested: a pass killed from here on leaves
            # runs with a dead worker, which the next pass recovers, rather than requests nobody remembers.
            created = [self._create(ASSET_JOB, partition, assets, tags)
                       for partition, assets in sorted(by_partition.items(), key=lambda item: str(item[0]))]
            cursor = self._save(result.cursor)
            if not created:
                self._end_tick(tick, [], skip_reason="nothing requested")
                return
            self.log(f"automation: {sum(len(v) for v in by_partition.values())} asset partition(s) requested")
            self._execute_all(created)
            self._end_tick(tick, [run.run_id for run in created])


def _single_job(sensor: dg.SensorDefinition) -> str | None:
    """The job of a sensor with one target; a sensor with several names the job in each run request."""
    return sensor.job_name if len(sensor.targets) == 1 else None
