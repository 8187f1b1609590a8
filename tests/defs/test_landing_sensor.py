"""The landing sensor against a real instance: new files give partitions and run requests, seen files do not."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
from helpers import settings_for, tiny_definitions

from vision_assets.core.ingest import scan_landing
from vision_assets.local.daemon import LocalDaemon


def land(settings, source: Path, scene: str = "cam-1", day: str = "2024-01-02", name: str | None = None) -> Path:
    folder = settings.landing_dir / scene / day
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, folder / (name or source.name))
    return folder


def evaluate(defs, instance, name: str = "landing_sensor"):
    sensor = defs.resolve_sensor_def(name)
    with dg.build_sensor_context(instance_ref=instance.get_ref(), definitions=defs, resources=defs.resources) as context:
        return sensor(context)


def test_new_files_produce_partitions_and_one_run_per_scene_day(tmp_path, instance, material):
    settings = settings_for(tmp_path / "data")
    for scene, day in (("cam-1", "2024-01-02"), ("cam-1", "2024-01-03"), ("cam-2", "2024-01-02")):
        land(settings, material / "videos" / "realshort.mp4", scene, day, "a.mp4")
    land(settings, material / "videos" / "realshort.mp4", name="b.mp4")
    defs = tiny_definitions(settings)

    result = evaluate(defs, instance)

    assert isinstance(result, dg.SensorResult)
    adds = {r.partitions_def_name: sorted(r.partition_keys) for r in result.dynamic_partitions_requests}
    assert adds == {"scene_days": ["2024-01-02|cam-1", "2024-01-02|cam-2", "2024-01-03|cam-1"]}  # no 2024-01-03|cam-2
    assert sorted(str(r.partition_key) for r in result.run_requests) == [
        "2024-01-02|cam-1", "2024-01-02|cam-2", "2024-01-03|cam-1"]
    assert [r.tags["vision/new_files"] for r in sorted(result.run_requests, key=lambda r: str(r.partition_key))] == ["2", "1", "1"]


def test_a_running_ingest_holds_its_partition_back_and_failures_are_retried_a_few_times(tmp_path, instance, material,
                                                                                       monkeypatch):
    from dagster._core.test_utils import create_run_for_test

    monkeypatch.setenv("VISION_RETRY_PAUSE_SCALE", "0")  # retries due at once, instead of minutes later
    settings = settings_for(tmp_path / "data")
    folder = land(settings, material / "videos" / "realshort.mp4", name="a.mp4")
    defs = tiny_definitions(settings)
    request = evaluate(defs, instance).run_requests[0]
    tags = {"dagster/partition": "2024-01-02|cam-1", **request.tags}

    running = create_run_for_test(instance, job_name="ingest_videos", status=dg.DagsterRunStatus.STARTED, tags=tags)
    assert evaluate(defs, instance).run_requests == []  # still running: not requested twice
    instance.report_run_failed(running)
    assert evaluate(defs, instance).run_requests == []  # failed: the retry sensor's to request again, not this one's
    retry = evaluate(defs, instance, "retry_sensor").run_requests
    assert [(r.job_name, r.partition_key, r.run_key) for r in retry] == [
        ("ingest_videos", "2024-01-02|cam-1", f"retry:{running.run_id}:1")]
    assert retry[0].tags["dagster/parent_run_id"] == running.run_id and retry[0].tags["vision/new_files"] == "1"
    for attempt in (1, 2):
        create_run_for_test(instance, job_name="ingest_videos", status=dg.DagsterRunStatus.FAILURE,
                            tags={**tags, "dagster/retry_number": str(attempt), "dagster/root_run_id": running.run_id})
    gave_up = evaluate(defs, instance, "retry_sensor")  # three failures for these files: wait for a change
    assert isinstance(gave_up, dg.SkipReason) and "gave up after 3 attempt(s)" in gave_up.skip_message
    assert evaluate(defs, instance).run_requests == []

    shutil.copy(material / "videos" / "bigbuckbunny.mp4", folder / "b.mp4")
    assert len(evaluate(defs, instance).run_requests) == 1


def test_a_label_file_arriving_after_its_video_triggers_a_new_ingest(tmp_path, instance, tiny_landing):
    settings = settings_for(tmp_path / "data")
    source = tiny_landing / "cam-a" / "2026-11-18"
    folder = land(settings, source / "cam-a_2026-11-18_0.mp4", "cam-a", "2026-11-18")
    defs = tiny_definitions(settings)
    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    assert daemon.sensor_tick("landing_sensor") == 1
    assert isinstance(evaluate(defs, instance), dg.SkipReason)

    shutil.copy(source / "cam-a_2026-11-18_0.xml", folder)

    result = evaluate(defs, instance)
    assert [str(r.partition_key) for r in result.run_requests] == ["2026-11-18|cam-a"]


def test_ingested_files_are_not_requested_again_but_a_new_file_is(tmp_path, instance, material):
    settings = settings_for(tmp_path / "data")
    folder = land(settings, material / "videos" / "realshort.mp4", name="a.mp4")
    defs = tiny_definitions(settings)
    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    assert daemon.sensor_tick("landing_sensor") == 1
    assert all(r.success for r in daemon.runs)

    assert isinstance(evaluate(defs, instance), dg.SkipReason)  # already in the lake, even with no cursor

    shutil.copy(material / "videos" / "bigbuckbunny.mp4", folder / "b.mp4")
    result = evaluate(defs, instance)
    assert [str(r.partition_key) for r in result.run_requests] == ["2024-01-02|cam-1"]
    assert result.run_requests[0].tags["vision/new_files"] == "1"
    assert result.dynamic_partitions_requests == []  # scene and day exist already


def test_a_fresh_instance_over_an_existing_lake_gets_its_partitions_back(tmp_path, instance, material):
    settings = settings_for(tmp_path / "data")
    land(settings, material / "videos" / "realshort.mp4", name="a.mp4")
    defs = tiny_definitions(settings)
    assert LocalDaemon(defs, instance, log=lambda _: None).sensor_tick("landing_sensor") == 1

    with dg.instance_for_test() as fresh:
        result = evaluate(defs, fresh)
    assert result.run_requests == []
    assert {r.partitions_def_name: list(r.partition_keys) for r in result.dynamic_partitions_requests} == {
        "scene_days": ["2024-01-02|cam-1"]}


def test_files_with_unusable_paths_are_refused_with_a_reason(tmp_path, material):
    landing = tmp_path / "landing"
    bad = {
        "cam|1/2024-01-02/a.mp4": "not usable as a partition key",
        "cam-1/02-01-2024/a.mp4": "not a YYYY-MM-DD date",
        "cam-1/a.mp4": "expected landing/<scene>/<YYYY-MM-DD>/<file>",
        "annotations/2024-01-02/a.mp4": "label drop zone",
    }
    for relative in bad:
        (landing / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(material / "videos" / "realshort.mp4", landing / relative)
    outside = tmp_path / "elsewhere.mp4"
    shutil.copy(material / "videos" / "realshort.mp4", outside)
    (landing / "cam-2" / "2024-01-02").mkdir(parents=True)
    (landing / "cam-2" / "2024-01-02" / "link.mp4").symlink_to(outside)

    found = {str(f.path.relative_to(landing)): f.refused for f in scan_landing(landing)}

    for relative, reason in bad.items():
        assert reason in found[relative] and relative.split("/")[-1] in found[relative]
    assert "outside the landing zone" in found["cam-2/2024-01-02/link.mp4"]
