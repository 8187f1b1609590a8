"""The partitions the UI lists are exactly the scene-days that have footage: never the scenes x days cross product."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest
from helpers import TINY_SPEC, settings_for, tiny_definitions

from vision_assets.defs import keys
from vision_assets.defs.partitions import scene_day_key, split_scene_day

pytestmark = pytest.mark.slow  # ingest, frames, labels and QC of three partitions in a real instance


def partition_keys(defs, instance, asset: dg.AssetKey) -> list[str]:
    """What the asset's partition view lists."""
    partitions_def = defs.resolve_asset_graph().get(asset).partitions_def
    return partitions_def.get_partition_keys(dynamic_partitions_store=instance)


def footage_scene_days(landing) -> set[str]:
    return {scene_day_key(video.parent.parent.name, video.parent.name) for video in landing.glob("*/*/*.mp4")}


def test_a_new_scene_day_adds_one_partition_and_no_missing_cross_product(tmp_path, instance, tiny_landing):
    from vision_assets.demo import DemoSpec, generate_demo_data
    from vision_assets.local.daemon import LocalDaemon

    settings = settings_for(tmp_path / "data")
    shutil.copytree(tiny_landing, settings.landing_dir, dirs_exist_ok=True)  # cam-a, cam-b on 2026-11-18
    defs = tiny_definitions(settings)
    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    cursor = daemon.automation_cursor()
    daemon.sensor_tick("landing_sensor")
    daemon.automation_until_quiet(cursor)
    assert daemon.runs and all(run.success for run in daemon.runs)

    # One new scene-day: cam-a films on 2026-11-19, cam-b does not.
    generate_demo_data(settings.landing_dir, DemoSpec(**{**TINY_SPEC, "scenes": ("cam-a",), "days": ("2026-11-19",),
                                                         "seed": 5}))
    cursor = daemon.automation_cursor()
    assert daemon.sensor_tick("landing_sensor") == 1
    daemon.automation_until_quiet(cursor)
    assert all(run.success for run in daemon.runs)

    with_footage = footage_scene_days(settings.landing_dir)
    assert with_footage == {"2026-11-18|cam-a", "2026-11-18|cam-b", "2026-11-19|cam-a"}  # the cross product has 4
    assert len(partition_keys(defs, instance, keys.RAW_VIDEOS)) == len(with_footage) == 3
    graph = defs.resolve_asset_graph()
    for key in graph.materializable_asset_keys:
        if graph.get(key).partitions_def is not None:
            assert set(partition_keys(defs, instance, key)) == with_footage, key
    for key in (keys.RAW_VIDEOS, keys.SAMPLED_FRAMES, keys.ANNOTATIONS, keys.QC_ANNOTATIONS):
        assert instance.get_materialized_partitions(key) == with_footage, key  # none shown "Missing"


def test_an_instance_with_the_old_scene_and_day_dimensions_gets_a_key_per_ingested_scene_day(tmp_path, instance):
    """Partitions added under `scenes` x `days` before scene-day keys: their materializations already name the
    `<day>|<scene>` string, so the landing sensor only has to add those keys."""
    settings = settings_for(tmp_path / "data")
    instance.add_dynamic_partitions("scenes", ["cam-a", "cam-b"])
    instance.add_dynamic_partitions("days", ["2026-11-18", "2026-11-19"])
    for key in ("2026-11-18|cam-a", "2026-11-19|cam-b"):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=keys.RAW_VIDEOS, partition=key))
    defs = tiny_definitions(settings)
    sensor = defs.resolve_sensor_def("landing_sensor")
    with dg.build_sensor_context(instance_ref=instance.get_ref(), definitions=defs, resources=defs.resources) as context:
        result = sensor(context)

    assert isinstance(result, dg.SensorResult) and result.run_requests == []
    assert [(r.partitions_def_name, sorted(r.partition_keys)) for r in result.dynamic_partitions_requests] == [
        ("scene_days", ["2026-11-18|cam-a", "2026-11-19|cam-b"])]


def test_a_scene_day_key_is_day_then_scene_and_a_malformed_key_is_refused():
    assert scene_day_key("cam-a", "2026-11-18") == "2026-11-18|cam-a"
    assert split_scene_day("2026-11-18|cam-a") == ("cam-a", "2026-11-18")
    for bad in ("cam-a", "2026-11-18|", "|cam-a", "2026-11-18|cam-a|x"):
        with pytest.raises(ValueError, match="not a scene-day key"):
            split_scene_day(bad)
