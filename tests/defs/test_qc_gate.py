"""QC as a gate: a partition below the pass-rate threshold fails its blocking check and stays out of datasets."""

from __future__ import annotations

import shutil

import dagster as dg
from helpers import settings_for

from vision_assets.core.datasets import gather_labelled_frames
from vision_assets.core.lake import Lake
from vision_assets.defs.frames import sampled_frames
from vision_assets.defs.ingest import raw_videos
from vision_assets.defs.labels import annotations, qc_annotations
from vision_assets.defs.partitions import scene_day, scene_day_key
from vision_assets.defs.wiring import build_resources
from vision_assets.demo import DEMO_CLASSES

ASSETS = [raw_videos, sampled_frames, annotations, qc_annotations]


def run_partition(settings, instance, min_pass_rate):
    instance.add_dynamic_partitions(scene_day.name, [scene_day_key("cam-a", "2026-11-18")])
    return dg.materialize(ASSETS, partition_key=scene_day_key("cam-a", "2026-11-18"), instance=instance,
                          resources=build_resources(settings), raise_on_error=False,
                          run_config={"ops": {"qc_annotations": {"config": {"min_pass_rate": min_pass_rate}}}})


def test_rejected_rows_are_kept_with_reasons_and_a_passing_partition_reaches_datasets(tmp_path, instance, tiny_landing):
    settings = settings_for(tmp_path / "data")
    shutil.copytree(tiny_landing / "cam-a", settings.landing_dir / "cam-a")

    result = run_partition(settings, instance, min_pass_rate=0.5)

    assert result.success
    lake = Lake(settings.lake_root)
    partition = {"scene": "cam-a", "day": "2026-11-18"}
    kept, rejected = lake.read_table("qc_annotations", partition), lake.read_table("qc_rejected", partition)
    labelled = lake.read_table("annotations", partition)
    assert len(kept) + len(rejected) == len(labelled) and len(rejected) > 0
    assert rejected["reasons"].str.len().min() > 0
    assert set(";".join(rejected["reasons"]).split(";")) <= {"box_outside_image", "box_not_positive", "unknown_class",
                                                              "coordinates_not_finite", "unknown_image_size"}
    frames, labels, report = gather_labelled_frames(lake, list(DEMO_CLASSES))
    assert report["excluded_partitions"] == [] and len(frames) > 0
    # Frames that lost a box to QC are left out: their remaining labels are incomplete.
    bad_frames = set(zip(rejected["video_sha256"], rejected["frame_index"]))
    assert not bad_frames & set(zip(frames["video_sha256"], frames["frame_index"]))


def test_a_partition_below_the_threshold_fails_the_blocking_check_and_is_excluded(tmp_path, instance, tiny_landing):
    settings = settings_for(tmp_path / "data")
    shutil.copytree(tiny_landing / "cam-a", settings.landing_dir / "cam-a")

    result = run_partition(settings, instance, min_pass_rate=1.0)

    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "qc_pass_rate")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    frames, _, report = gather_labelled_frames(Lake(settings.lake_root), list(DEMO_CLASSES))
    assert frames.empty
    assert [(p["scene"], p["day"]) for p in report["excluded_partitions"]] == [("cam-a", "2026-11-18")]
