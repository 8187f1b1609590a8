"""A warning stays a warning in the UI: Dagster 1.13 colours a partitioned check by the severity of its latest
execution, so a passing qc_pass_rate result carries the severity of the failures elsewhere (a partition without
labels fails as a warning; one below the threshold as an error), and every monitoring result is a warning."""

from __future__ import annotations

import re
import shutil

import dagster as dg
import pytest
from helpers import settings_for

from vision_assets.defs.frames import sampled_frames
from vision_assets.defs.ingest import raw_videos
from vision_assets.defs.labels import annotations, qc_annotations
from vision_assets.defs.partitions import scene_day, scene_day_key
from vision_assets.defs.wiring import build_resources

pytestmark = pytest.mark.slow  # ingest, frames, labels and QC of three small partitions in a real instance

DAY = "2026-11-18"
WARN, ERROR = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR


def _qc_pass_rate(settings, instance, scene: str, *, upstream: bool = True) -> dg.AssetCheckEvaluation:
    partition = scene_day_key(scene, DAY)
    instance.add_dynamic_partitions(scene_day.name, [partition])
    assets = [raw_videos, sampled_frames, annotations, qc_annotations] if upstream else [qc_annotations]
    result = dg.materialize(assets, partition_key=partition, instance=instance, resources=build_resources(settings),
                            raise_on_error=False)
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == "qc_pass_rate")


def test_a_passing_result_carries_the_severity_of_the_partitions_failing_elsewhere(tmp_path, instance, tiny_landing):
    settings = settings_for(tmp_path / "data")
    shutil.copytree(tiny_landing / "cam-a", settings.landing_dir / "cam-a")
    unlabelled = settings.landing_dir / "cam-c" / DAY
    unlabelled.mkdir(parents=True)
    (unlabelled / "broken.mp4").write_bytes(b"not a video")  # no usable footage: no labels to judge
    shutil.copytree(tiny_landing / "cam-b", settings.landing_dir / "cam-b")
    for xml in (settings.landing_dir / "cam-b").rglob("*.xml"):  # every label of an unknown class: QC rejects all
        xml.write_text(re.sub(r'(<track [^>]*label=")[^"]+"', r'\1tractor"', xml.read_text()))

    first = _qc_pass_rate(settings, instance, "cam-a")
    assert first.passed and first.severity == WARN  # nothing fails anywhere

    no_labels = _qc_pass_rate(settings, instance, "cam-c")
    assert not no_labels.passed and no_labels.severity == WARN
    again = _qc_pass_rate(settings, instance, "cam-a", upstream=False)
    assert again.passed and again.severity == WARN  # the only failure is a warning: the check stays yellow

    rejected = _qc_pass_rate(settings, instance, "cam-b")
    assert not rejected.passed and rejected.severity == ERROR
    last = _qc_pass_rate(settings, instance, "cam-a", upstream=False)
    assert last.passed and last.severity == ERROR  # an error fails elsewhere: the check stays red


def test_monitoring_before_a_champion_passes_as_the_warning_it_would_fail_as(tmp_path, instance):
    from vision_assets.defs.monitoring import footage_monitoring

    settings = settings_for(tmp_path / "data")
    partition = scene_day_key("cam-a", DAY)
    instance.add_dynamic_partitions(scene_day.name, [partition])
    result = dg.materialize([footage_monitoring], partition_key=partition, instance=instance,
                            resources=build_resources(settings))
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"footage_in_distribution", "predictions_stable", "online_accuracy_above_floor"}
    for evaluation in evaluations.values():
        assert evaluation.passed and evaluation.severity == WARN
        assert evaluation.description == "no champion yet: nothing to compare"
