"""Runs the in-process daemon starts are filed as the real daemon files them: under the sensor or schedule that
asked (the tags and filters the UI's Runs tabs use), with a tick per evaluation, and against the snapshot of the
job the code location loads (so the UI re-executes them without a "different version" warning)."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG
from helpers import settings_for, tiny_definitions


def _ingest_and_carry_through(defs, instance):
    from vision_assets.local.daemon import LocalDaemon

    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    cursor = daemon.automation_cursor()
    daemon.sensor_tick("landing_sensor")
    daemon.automation_until_quiet(cursor)
    return daemon


def _ui_runs_of(instance, daemon, tag: str, name: str) -> set[str]:
    """The filter GrapheneInstigationState.resolve_runs applies for a sensor's or schedule's Runs tab."""
    label = daemon.identity.repository_origin.get_label()
    return {r.dagster_run.run_id for r in instance.get_run_records(dg.RunsFilter(tags={tag: name, REPOSITORY_LABEL_TAG: label}))}


@pytest.mark.slow  # ingest and frames/labels/QC of two partitions
def test_sensor_runs_are_attributed_ticked_and_keep_the_code_locations_snapshot(tmp_path, instance, tiny_landing):
    settings = settings_for(tmp_path / "data")
    shutil.copytree(tiny_landing, settings.landing_dir, dirs_exist_ok=True)
    defs = tiny_definitions(settings)

    daemon = _ingest_and_carry_through(defs, instance)

    assert daemon.runs and all(r.success for r in daemon.runs)
    ingests = {r.run_id for r in daemon.runs if r.job == "ingest_videos"}
    automated = {r.run_id for r in daemon.runs if r.job == "__ASSET_JOB"}
    assert len(ingests) == 2 and len(automated) == 2  # 2 scenes x 1 day
    assert _ui_runs_of(instance, daemon, "dagster/sensor_name", "landing_sensor") == ingests
    assert _ui_runs_of(instance, daemon, "dagster/sensor_name", "partition_automation") == automated

    repo_label = "__repository__@vision_assets"
    for run_id in ingests | automated:
        run = instance.get_run_by_id(run_id)
        assert run.remote_job_origin.repository_origin.get_label() == repo_label
        assert run.remote_job_origin.location_name == "vision_assets"
    # The UI matches a run's snapshot (a subset run's parent snapshot) against the loaded job's.
    for run_id in ingests:
        assert instance.get_run_by_id(run_id).job_snapshot_id == defs.resolve_job_def("ingest_videos").get_job_snapshot_id()
    asset_job = defs.resolve_implicit_global_asset_job_def().get_job_snapshot_id()
    for run_id in automated:
        snap = instance.get_job_snapshot(instance.get_run_by_id(run_id).job_snapshot_id)
        assert snap.lineage_snapshot.parent_snapshot_id == asset_job

    origin_id, selector_id = daemon.identity.instigator_ids("landing_sensor")
    ticks = instance.get_ticks(origin_id, selector_id)
    assert [t.status for t in ticks] == [TickStatus.SUCCESS]
    assert set(ticks[0].tick_data.run_ids) == ingests
    origin_id, selector_id = daemon.identity.instigator_ids("partition_automation")
    ticks = instance.get_ticks(origin_id, selector_id)  # newest first: the quiet evaluation, then the one that ran
    assert [t.status for t in ticks] == [TickStatus.SKIPPED, TickStatus.SUCCESS]
    assert set(ticks[1].tick_data.run_ids) == automated

    # A second pass with nothing new records a skipped tick and starts nothing.
    again = _ingest_and_carry_through(defs, instance)
    assert again.runs == []
    assert instance.get_ticks(*daemon.identity.instigator_ids("landing_sensor"))[0].status == TickStatus.SKIPPED


def test_a_schedule_run_names_its_schedule(tmp_path, instance):
    from vision_assets.local.daemon import LocalDaemon

    settings = settings_for(tmp_path / "data")
    defs = tiny_definitions(settings)
    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    # No champion yet, so nothing to mine: the evaluation is still recorded, as a skipped tick.
    daemon.schedule_tick("nightly_hard_examples")
    ticks = instance.get_ticks(*daemon.identity.instigator_ids("nightly_hard_examples"))
    assert len(ticks) == 1 and ticks[0].status == TickStatus.SKIPPED
