"""Checks of the scene x day assets record their partition, so the UI says which camera-day failed."""

from __future__ import annotations

import re
import shutil

import dagster as dg
import pytest
from helpers import settings_for, tiny_definitions

pytestmark = pytest.mark.slow  # ingest, frames, labels and QC of two partitions in a real instance

SCENE_DAY_CHECKS = {
    "raw_videos": {"videos_decodable", "no_duplicate_footage"},
    "annotations": {"label_files_readable", "label_files_matched", "videos_labelled", "canonical_table_expectations"},
    "qc_annotations": {"qc_pass_rate", "qc_warnings", "annotator_agreement", "kept_rows_meet_expectations"},
}


def test_every_check_of_a_scene_day_asset_is_partitioned_like_it(tmp_path):
    defs = tiny_definitions(settings_for(tmp_path / "data"))
    graph = defs.resolve_asset_graph()
    found = {}
    for key in graph.asset_check_keys:
        asset = graph.get(key.asset_key)
        if asset.partitions_def is not None:
            found.setdefault(key.asset_key.to_user_string(), set()).add(key.name)
            node = graph.get(key)
            assert node.partitions_def == asset.partitions_def, key
    assert {k: v for k, v in found.items() if k in SCENE_DAY_CHECKS} == SCENE_DAY_CHECKS


def test_check_results_carry_their_scene_and_day(tmp_path, instance, tiny_landing):
    from vision_assets.local.daemon import LocalDaemon

    settings = settings_for(tmp_path / "data")
    shutil.copytree(tiny_landing, settings.landing_dir, dirs_exist_ok=True)
    # cam-b's labels all name a class outside the taxonomy, so QC rejects them: only cam-b may fail.
    for xml in (settings.landing_dir / "cam-b").rglob("*.xml"):
        xml.write_text(re.sub(r'(<track [^>]*label=")[^"]+"', r'\1tractor"', xml.read_text()))
    defs = tiny_definitions(settings)
    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    cursor = daemon.automation_cursor()
    daemon.sensor_tick("landing_sensor")
    daemon.automation_until_quiet(cursor)

    day = "2026-11-18"
    storage = instance.event_log_storage
    by_partition = {}
    for asset, names in SCENE_DAY_CHECKS.items():
        for name in names:
            history = storage.get_asset_check_execution_history(dg.AssetCheckKey(dg.AssetKey(asset), name), limit=20)
            for record in history:
                by_partition.setdefault((asset, name), {})[record.partition] = record.status.value
    expected_partitions = {f"{day}|cam-a", f"{day}|cam-b"}
    for check, statuses in by_partition.items():
        assert set(statuses) == expected_partitions, (check, statuses)
    assert set(by_partition) == {(a, n) for a, names in SCENE_DAY_CHECKS.items() for n in names}
    assert by_partition[("qc_annotations", "qc_pass_rate")] == {f"{day}|cam-a": "SUCCEEDED", f"{day}|cam-b": "FAILED"}
    assert by_partition[("annotations", "canonical_table_expectations")][f"{day}|cam-b"] == "FAILED"
    assert by_partition[("annotations", "label_files_readable")] == {p: "SUCCEEDED" for p in expected_partitions}

    # The per-partition filter the UI's partition view uses answers the same.
    from dagster._core.storage.event_log.base import PartitionKeyFilter

    failed = storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("qc_annotations"), "qc_pass_rate"), limit=5,
        partition_filter=PartitionKeyFilter(key=f"{day}|cam-b"))
    assert [r.status.value for r in failed] == ["FAILED"]
