"""One pass of what the Dagster daemon does, in-process, for running without servers (`vision-assets demo` / `ingest`).

The same sensor, automation and schedule definitions decide what runs; here their run requests execute
in-process on the configured instance, so every run shows up in the UI afterwards.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

# Step-level events stay in the instance (and the UI); the terminal gets one line per run.
AUTOMATION_CURSOR_KEY = "vision_assets/local_automation_cursor"
SENSOR_CURSOR_PREFIX = "vision_assets/local_sensor_cursor/"
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


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

    # -- execution ----------------------------------------------------------------------------------
    def execute(self, job_name: str, partition_key: str | None = None, assets: list[dg.AssetKey] | None = None,
                tags: dict[str, str] | None = None) -> RunOutcome:
        job = (self.defs.resolve_implicit_global_asset_job_def() if job_name == "__ASSET_JOB"
               else self.defs.resolve_job_def(job_name))
        result = job.execute_in_process(instance=self.instance, partition_key=partition_key, asset_selection=assets,
                                        tags=tags or {}, raise_on_error=False, run_config=QUIET_CONSOLE)
        names = [k.to_user_string() for k in assets] if assets else [job_name]
        outcome = RunOutcome(job_name, partition_key, result.success, result.run_id, names)
        self.runs.append(outcome)
        status = "ok" if result.success else "FAILED"
        self.log(f"  run {result.run_id[:8]} {status}: {', '.join(names)}" + (f" [{partition_key}]" if partition_key else ""))
        if not result.success:
            for event in result.all_events:
                if event.is_step_failure:
                    self.log(f"    {event.step_key}: {event.event_specific_data.error.message.strip()}")
        return outcome

    def _run_requests(self, job_name: str, requests: list[dg.RunRequest]) -> None:
        for request in requests:
            self.execute(job_name, request.partition_key, tags=request.tags)

    # -- instigators ------------------------------------------------------------------------------------
    def _sensor_result(self, name: str):
        sensor = self.defs.resolve_sensor_def(name)
        key = f"{SENSOR_CURSOR_PREFIX}{name}"
        cursor = self.instance.daemon_cursor_storage.get_cursor_values({key}).get(key)
        with dg.build_sensor_context(instance_ref=self.instance.get_ref(), definitions=self.defs,
                                     resources=self.defs.resources, cursor=cursor) as context:
            result = sensor(context)
        if isinstance(result, dg.SensorResult):
            for event in result.asset_events or []:
                self.instance.report_runless_asset_event(event)
            if result.cursor is not None:
                self.instance.daemon_cursor_storage.set_cursor_values({key: result.cursor})
        return sensor, result

    def sensor_tick(self, name: str) -> int:
        sensor, result = self._sensor_result(name)
        if result is None or isinstance(result, dg.SkipReason):
            self.log(f"{name}: {getattr(result, 'skip_message', None) or 'nothing to do'}")
            return 0
        if isinstance(result, dg.SensorResult) and result.skip_reason and not result.run_requests:
            self.log(f"{name}: {result.skip_reason.skip_message}")
            return 0
        requests = result.run_requests if isinstance(result, dg.SensorResult) else list(result)
        for request in getattr(result, "dynamic_partitions_requests", None) or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            self.log(f"{name}: new {request.partitions_def_name}: {', '.join(request.partition_keys)}")
        self.log(f"{name}: {len(requests)} run request(s)")
        self._run_requests(sensor.job_name, requests)
        return len(requests)

    def schedule_tick(self, name: str) -> int:
        schedule = self.defs.resolve_schedule_def(name)
        with dg.build_schedule_context(instance=self.instance, resources=self.defs.resources,
                                       scheduled_execution_time=dt.datetime.now(dt.UTC)) as context:
            result = schedule(context)
        if isinstance(result, dg.SkipReason):
            self.log(f"{name}: {result.skip_message}")
            return 0
        requests = list(result or [])
        self.log(f"{name}: {len(requests)} run request(s)")
        self._run_requests(schedule.job_name, requests)
        return len(requests)

    def automation_cursor(self):
        """The cursor left by the previous local pass, so work an interrupted pass left half-done is carried on.

        Without one, declarative automation has no previous evaluation to compare with; a baseline is taken
        before anything changes."""
        from dagster._serdes import deserialize_value

        stored = self.instance.daemon_cursor_storage.get_cursor_values({AUTOMATION_CURSOR_KEY}).get(AUTOMATION_CURSOR_KEY)
        if stored:
            try:
                return deserialize_value(stored)
            except Exception as error:  # noqa: BLE001 - a cursor from another Dagster version: start afresh
                self.log(f"automation: stored cursor unreadable ({error}); taking a new baseline")
        return self._save(dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance).cursor)

    def _save(self, cursor):
        from dagster._serdes import serialize_value

        self.instance.daemon_cursor_storage.set_cursor_values({AUTOMATION_CURSOR_KEY: serialize_value(cursor)})
        return cursor

    def automation_until_quiet(self, cursor, max_ticks: int = 10) -> None:
        for _ in range(max_ticks):
            result = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance, cursor=cursor)
            cursor = self._save(result.cursor)
            by_partition: dict[str, list[dg.AssetKey]] = defaultdict(list)
            for asset_key in self.defs.resolve_all_asset_keys():
                for partition in result.get_requested_partitions(asset_key):
                    by_partition[partition].append(asset_key)
            if not by_partition:
                return
            self.log(f"automation: {sum(len(v) for v in by_partition.values())} asset partition(s) requested")
            for partition, assets in sorted(by_partition.items(), key=lambda item: str(item[0])):
                self.execute("__ASSET_JOB", partition, assets=assets, tags={"vision/automation": "local"})
