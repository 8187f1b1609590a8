"""What misled a first-time user of the UI: descriptions that swallowed their placeholders, checks that passed on
nothing, a box count of 0 because annotations ran before the frames it counts, unrounded numbers."""

from __future__ import annotations

import re
import shutil

import dagster as dg
from helpers import settings_for

from vision_assets.defs.frames import sampled_frames
from vision_assets.defs.ingest import raw_videos
from vision_assets.defs.labels import annotations, qc_annotations
from vision_assets.defs.partitions import scene_day, scene_day_key
from vision_assets.defs.wiring import build_resources

PARTITION = scene_day_key("cam-a", "2026-11-18")


def _descriptions(defs) -> dict[str, str]:
    out = {}
    for spec in defs.resolve_all_asset_specs():
        out[spec.key.to_user_string()] = spec.description or ""
    for sensor in defs.sensors or []:
        out[f"sensor {sensor.name}"] = sensor.description or ""
    for schedule in defs.schedules or []:
        out[f"schedule {schedule.name}"] = schedule.description or ""
    return out


def test_descriptions_keep_their_placeholders_visible():
    """The UI renders descriptions as Markdown/HTML: a bare <scene> is an unknown tag and vanishes, leaving
    `landing/annotations///`; inside a code span it shows."""
    from vision_assets.definitions import defs

    for name, text in _descriptions(defs).items():
        outside_code = re.sub(r"`[^`]*`", "", text)
        assert not re.search(r"<[A-Za-z][\w-]*>", outside_code), f"{name}: a placeholder outside `code`: {text}"


def test_annotations_runs_after_the_frames_it_counts_boxes_on(tmp_path, instance, tiny_landing):
    settings = settings_for(tmp_path / "data")
    shutil.copytree(tiny_landing / "cam-a", settings.landing_dir / "cam-a")
    instance.add_dynamic_partitions(scene_day.name, [PARTITION])
    result = dg.materialize([raw_videos, sampled_frames, annotations, qc_annotations], partition_key=PARTITION,
                            instance=instance, resources=build_resources(settings))
    assert result.success
    order = [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()]
    assert order.index("sampled_frames") < order.index("annotations")
    (labelled,) = result.asset_materializations_for_node("annotations")
    assert labelled.metadata["boxes_on_sampled_frames"].value > 0
    (qc,) = result.asset_materializations_for_node("qc_annotations")
    rate = qc.metadata["pass_rate"].value
    assert rate == float(f"{rate:.4g}")  # rounded for reading, as the README says


def test_no_check_passes_on_a_partition_without_labels_or_footage(tmp_path, instance):
    """A partition whose landing folder holds no usable video: nothing to label, nothing to judge."""
    settings = settings_for(tmp_path / "data")
    folder = settings.landing_dir / "cam-a" / "2026-11-18"
    folder.mkdir(parents=True)
    (folder / "broken.mp4").write_bytes(b"not a video")
    instance.add_dynamic_partitions(scene_day.name, [PARTITION])
    result = dg.materialize([raw_videos, sampled_frames, annotations, qc_annotations], partition_key=PARTITION,
                            instance=instance, resources=build_resources(settings), raise_on_error=False)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    labelled = checks["videos_labelled"]
    assert not labelled.passed and labelled.severity == dg.AssetCheckSeverity.WARN
    assert labelled.description == "no usable video in cam-a/2026-11-18: nothing to label"
    judged = checks["qc_pass_rate"]
    assert not judged.passed and judged.severity == dg.AssetCheckSeverity.WARN
    assert judged.description == "no labels in this partition: nothing to judge"
