"""The local daemon's automation evaluation (vision_assets/local/automation.py) requests the same asset partitions
and leaves the same cursor as Dagster's public `evaluate_automation_conditions`, on the project's definitions and a
real instance, while reading the dynamic partitions a handful of times instead of once per serialized subset."""

from __future__ import annotations

import datetime as dt

import dagster as dg
from helpers import settings_for, tiny_definitions

from vision_assets.defs import keys
from vision_assets.defs.partitions import scene_day, scene_day_key
from vision_assets.local.automation import evaluate_automation

SCENE_DAYS = [scene_day_key("cam-a", "2026-11-18"), scene_day_key("cam-b", "2026-11-18")]


def _requested(defs, result) -> dict[str, set]:
    return {key.to_user_string(): set(result.get_requested_partitions(key)) for key in defs.resolve_all_asset_keys()
            if result.get_requested_partitions(key)}


def _counting_partition_reads(monkeypatch, instance) -> list[str]:
    reads: list[str] = []
    read = instance.get_dynamic_partitions

    def counted(partitions_def_name: str):
        reads.append(partitions_def_name)
        return read(partitions_def_name)

    monkeypatch.setattr(instance, "get_dynamic_partitions", counted)
    return reads


def test_local_evaluation_requests_and_remembers_what_the_public_helper_does(tmp_path, instance, monkeypatch):
    defs = tiny_definitions(settings_for(tmp_path / "data"))
    reads = _counting_partition_reads(monkeypatch, instance)
    first = dt.datetime(2026, 11, 19, 3, 0, tzinfo=dt.UTC)

    ours = evaluate_automation(defs, instance, evaluation_time=first)
    public = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=first)
    assert _requested(defs, ours) == _requested(defs, public) == {}
    assert dg.serialize_value(ours.cursor) == dg.serialize_value(public.cursor)

    # Footage lands for two scene-days: automation carries them downstream.
    instance.add_dynamic_partitions(scene_day.name, SCENE_DAYS)
    for partition in SCENE_DAYS:
        instance.report_runless_asset_event(dg.AssetMaterialization(keys.RAW_VIDEOS, partition=partition))
    second = first + dt.timedelta(minutes=1)
    reads.clear()
    ours = evaluate_automation(defs, instance, ours.cursor, evaluation_time=second)
    ours_reads = len(reads)
    reads.clear()
    public = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=public.cursor,
                                               evaluation_time=second)
    public_reads = len(reads)

    assert _requested(defs, ours) == _requested(defs, public)
    assert _requested(defs, ours)[keys.SAMPLED_FRAMES.to_user_string()] == set(SCENE_DAYS)
    assert ours.total_requested == public.total_requested > 0
    assert dg.serialize_value(ours.cursor) == dg.serialize_value(public.cursor)
    assert [r.true_subset.get_internal_value() for r in ours.results] == \
        [r.true_subset.get_internal_value() for r in public.results]
    # One read per dynamic partitions definition and evaluation, not one per serialized subset.
    assert ours_reads <= 2 < public_reads, (ours_reads, public_reads)

    # The next tick, after nothing happened, requests nothing, from either cursor.
    third = second + dt.timedelta(minutes=1)
    ours = evaluate_automation(defs, instance, ours.cursor, evaluation_time=third)
    public = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=public.cursor,
                                               evaluation_time=third)
    assert _requested(defs, ours) == _requested(defs, public) == {}
    assert dg.serialize_value(ours.cursor) == dg.serialize_value(public.cursor)
