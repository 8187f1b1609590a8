"""The grid's scene-days and check states come from a real Dagster instance: its `scene_days` partitions, each
partition's latest evaluation of each check, a step's own results in place of the stored ones, and the metadata copy
bounded to the latest days."""

from __future__ import annotations

import dagster as dg

from vision_assets.core.lake import Lake
from vision_assets.core.scene_day_grid import CheckState
from vision_assets.defs import keys
from vision_assets.defs.partitions import scene_day
from vision_assets.defs.scene_day_grid import code_location_check_keys, grid, partition_page


def evaluated(instance, partition: str, check: str, passed: bool, severity=dg.AssetCheckSeverity.ERROR) -> None:
    instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=keys.QC_ANNOTATIONS, check_name=check, passed=passed, severity=severity, partition=partition))


def test_cells_are_the_instances_partitions_with_their_latest_check_results(instance, tmp_path):
    instance.add_dynamic_partitions(scene_day.name, ["2026-11-18|cam-a", "2026-11-19|cam-a", "2026-11-19|cam-b"])
    evaluated(instance, "2026-11-18|cam-a", keys.QC_PASS_RATE, True)
    evaluated(instance, "2026-11-19|cam-a", keys.QC_PASS_RATE, False)
    evaluated(instance, "2026-11-19|cam-b", keys.QC_WARNINGS, False, dg.AssetCheckSeverity.WARN)
    checks = code_location_check_keys()
    assert dg.AssetCheckKey(keys.QC_ANNOTATIONS, keys.QC_PASS_RATE) in checks and len(checks) == 13  # online_accuracy_above_floor is the 13th

    cells = {(c.scene, c.day): c for c in grid(instance, Lake(str(tmp_path / "lake")), checks)}
    assert set(cells) == {("cam-a", "2026-11-18"), ("cam-a", "2026-11-19"), ("cam-b", "2026-11-19")}
    assert [c.state for c in cells.values()] == ["ok", "failing", "warning"]
    assert cells["cam-a", "2026-11-18"].checks == (CheckState("qc_annotations", "qc_pass_rate", True, "ERROR"),)
    assert cells["cam-a", "2026-11-18"].frames is None  # nothing in the lake yet: unknown

    # A step's own results stand in for what the instance holds for its partition.
    fresh = {"2026-11-19|cam-a": [CheckState("qc_annotations", "qc_pass_rate", True, "ERROR")]}
    again = {(c.scene, c.day): c for c in grid(instance, Lake(str(tmp_path / "lake")), checks, fresh)}
    assert again["cam-a", "2026-11-19"].state == "ok"


def test_the_metadata_copy_keeps_the_latest_days(instance, tmp_path):
    days = [f"2026-11-{d:02d}" for d in range(1, 17)]
    instance.add_dynamic_partitions(scene_day.name, [f"{day}|cam-a" for day in days])
    cells = grid(instance, Lake(str(tmp_path / "lake")), [], latest_days=14)
    assert sorted(c.day for c in cells) == days[2:]


def test_a_cell_links_to_its_partition_page_in_the_dagster_ui():
    assert partition_page("http://127.0.0.1:3000/", "qc_annotations", "cam a", "2026-11-18") == \
        "http://127.0.0.1:3000/assets/qc_annotations?view=partitions&partition=2026-11-18%7Ccam%20a"
    assert partition_page("", "raw_videos", "cam-a", "2026-11-18").startswith("/assets/raw_videos?")
