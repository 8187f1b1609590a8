"""Ingest as a user sees it: sidecar partitions, refusals, copies and re-encodes, normalisation, per-scene sampling."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pytest
from helpers import settings_for, tiny_definitions

from vision_assets.core.ingest import scan_landing
from vision_assets.core.lake import Lake
from vision_assets.core.video import NormaliseSpec, normalise_video
from vision_assets.defs.resources import IngestPolicyResource, SamplingPolicyResource, SceneSampling
from vision_assets.local.daemon import LocalDaemon


def place(settings, source, relative: str, sidecar: dict | None = None):
    target = settings.landing_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    if sidecar is not None:
        target.with_suffix(".json").write_text(json.dumps(sidecar))
    return target


def ingest(defs, instance) -> LocalDaemon:
    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    cursor = daemon.automation_cursor()
    daemon.sensor_tick("landing_sensor")
    daemon.automation_until_quiet(cursor)
    return daemon


def test_scene_and_day_come_from_the_path_or_the_sidecar_and_conflicts_are_refused(tmp_path, material):
    settings = settings_for(tmp_path / "data")
    clip = material / "videos" / "realshort.mp4"
    place(settings, clip, "inbox-1.mp4", {"scene": "dock", "capture_start": "2024-05-06T23:59:00+02:00"})
    place(settings, clip, "dock/inbox-2.mp4", {"day": "2024-05-07"})
    place(settings, clip, "dock/2024-05-08/a.mp4", {"scene": "dock", "weather": "rain"})
    place(settings, clip, "dock/2024-05-08/b.mp4", {"scene": "gate"})
    place(settings, clip, "dock/2024-05-08/c.mp4", {"capture_start": "2024-05-09T01:00:00"})
    place(settings, clip, "orphan.mp4")
    place(settings, clip, "dock/2024-05-08/bad\tname.mp4")
    (settings.landing_dir / "dock" / "2024-05-08" / "d.mp4").write_bytes(b"")
    (settings.landing_dir / "dock" / "2024-05-08" / "d.json").write_text("{not json")

    found = {f.path.name: f for f in scan_landing(settings.landing_dir)}

    assert (found["inbox-1.mp4"].scene, found["inbox-1.mp4"].day, found["inbox-1.mp4"].partition_from) == (
        "dock", "2024-05-06", "sidecar")
    assert (found["inbox-2.mp4"].scene, found["inbox-2.mp4"].day, found["inbox-2.mp4"].partition_from) == (
        "dock", "2024-05-07", "path+sidecar")
    assert (found["a.mp4"].scene, found["a.mp4"].day, found["a.mp4"].refused) == ("dock", "2024-05-08", "")
    assert "path says scene 'dock', sidecar says 'gate'" in found["b.mp4"].refused
    assert "path says day '2024-05-08', sidecar says '2024-05-09'" in found["c.mp4"].refused
    assert "scene cannot be determined" in found["orphan.mp4"].refused
    assert "control characters" in found["bad\tname.mp4"].refused
    assert "d.json" in found["d.mp4"].refused  # an unreadable sidecar is named, not ignored


def test_refusals_are_shown_on_raw_videos_once_per_change(tmp_path, instance, material):
    settings = settings_for(tmp_path / "data")
    place(settings, material / "videos" / "realshort.mp4", "cam|1/2024-01-02/a.mp4")
    defs = tiny_definitions(settings)
    daemon = LocalDaemon(defs, instance, log=lambda _: None)

    daemon.sensor_tick("landing_sensor")
    daemon.sensor_tick("landing_sensor")

    observations = instance.fetch_observations(dg.AssetKey("raw_videos"), limit=10).records
    assert len(observations) == 1
    metadata = observations[0].asset_observation.metadata
    assert metadata["refused_files"].value == 1
    assert "not usable as a partition key" in metadata["refusals"].value


@pytest.mark.slow
def test_copies_across_partitions_and_re_encodes_are_reported_against_the_original(tmp_path, instance, material):
    settings = settings_for(tmp_path / "data")
    clip = material / "videos" / "realshort.mp4"
    place(settings, clip, "gate/2024-01-01/original.mp4")
    defs = tiny_definitions(settings)
    assert all(run.success for run in ingest(defs, instance).runs)
    place(settings, clip, "gate/2024-01-02/copy.mp4")
    place(settings, clip, "gate/2024-01-02/copy-again.mp4")
    reencode = settings.landing_dir / "dock" / "2024-01-02" / "reencode.mp4"
    reencode.parent.mkdir(parents=True)
    normalise_video(clip, reencode, NormaliseSpec(enabled=True, codec="mpeg4", max_height=120))

    daemon = ingest(defs, instance)

    assert all(run.success for run in daemon.runs)
    lake = Lake(settings.lake_root)
    day2 = lake.read_table("raw_videos", {"scene": "gate", "day": "2024-01-02"}).set_index("source_name")
    assert set(day2["duplicate_of"]) == {"gate/2024-01-01/original.mp4"}
    dock = lake.read_table("raw_videos", {"scene": "dock", "day": "2024-01-02"}).iloc[0]
    assert dock["duplicate_of"] == ""
    assert dock["near_duplicate_of"] == "gate/2024-01-01/original.mp4"
    assert dock["near_duplicate_distance"] <= 24
    # Stored once: one video blob for the three identical copies, one for the re-encode.
    assert len(list((tmp_path / "data" / "lake" / "blobs" / "videos").rglob("*.mp4"))) == 2
    # The copies yield no frames of their own; the re-encode does (it is other bytes), and is reported.
    assert lake.read_table("sampled_frames", {"scene": "gate", "day": "2024-01-02"}).empty
    checks = _check_evaluations(instance)
    assert checks[("no_duplicate_footage", "2024-01-02|gate")] is False
    assert checks[("no_duplicate_footage", "2024-01-02|dock")] is False
    assert checks[("no_duplicate_footage", "2024-01-01|gate")] is True


def _check_evaluations(instance) -> dict[tuple[str, str], bool]:
    """(check name, partition of its run) -> passed, over every run on the instance."""
    found = {}
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = entry.dagster_event.event_specific_data
            found[(evaluation.asset_check_key.name, run.tags.get("dagster/partition", ""))] = evaluation.passed
    return found


@pytest.mark.slow
def test_normalisation_and_per_scene_sampling_with_blurring_follow_the_policy(tmp_path, instance, material):
    settings = settings_for(tmp_path / "data")
    place(settings, material / "videos" / "bigbuckbunny.mp4", "street/2024-01-01/bunny.mp4")
    place(settings, material / "videos" / "realshort.mp4", "yard/2024-01-01/short.mp4")
    defs = tiny_definitions(
        settings,
        ingest_policy=IngestPolicyResource(normalise=True, normalise_fps=5, normalise_max_height=120),
        sampling=SamplingPolicyResource(scenes={
            "street": SceneSampling(strategy="keyframes", params={}, blur_faces=True, blur_plates=True),
        }),
    )

    assert all(run.success for run in ingest(defs, instance).runs)

    lake = Lake(settings.lake_root)
    video = lake.read_table("raw_videos", {"scene": "yard", "day": "2024-01-01"}).iloc[0]
    facts = json.loads(video["normalised"])
    assert video["normalised_path"].endswith(".mp4") and (facts["width"], facts["height"]) == (160, 120)
    assert facts["frames_out"] == 6  # 1.2 s at 5 fps, by decoded timestamps
    yard = lake.read_table("sampled_frames", {"scene": "yard", "day": "2024-01-01"})
    assert set(yard["strategy"]) == {"fixed_interval"} and set(yard["width"]) == {160}  # sampled from the copy
    # 5 fps after normalisation, one frame every 0.5 s by timestamps: 0.0, then the first at or after 0.5 and 1.0.
    assert yard[["frame_index", "timestamp_s"]].values.tolist() == [[0, 0.0], [3, 0.6], [5, 1.0]]
    street = lake.read_table("sampled_frames", {"scene": "street", "day": "2024-01-01"})
    assert set(street["strategy"]) == {"keyframes"} and street["frame_index"].tolist() == [0]
    assert street["blurred"].dtype == bool and street["phash"].str.fullmatch("[0-9a-f]{64}").all()


@pytest.mark.parametrize("policy, problem", [
    ({"sampling": {"default": {"strategy": "nope"}}}, "unknown sampling strategy 'nope'"),
    ({"extra": 1}, r"policy.yaml: extra: unknown key \(known: ingest, sampling, retention\)"),
])
def test_a_bad_video_policy_file_is_named_with_its_problem(tmp_path, policy, problem):
    import yaml

    from vision_assets.defs.frames import plan_for
    from vision_assets.defs.wiring import build_resources
    from vision_assets.project_config import ProjectConfigError

    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    settings = settings_for(tmp_path / "data", VISION_VIDEO_POLICY=str(path))
    with pytest.raises((ValueError, ProjectConfigError), match=problem):
        resources = build_resources(settings)
        plan_for(resources["sampling"].for_scene("any"))


def test_a_file_that_cannot_be_read_fails_alone_and_old_tables_are_brought_up_to_date(tmp_path, material):
    import pandas as pd

    from vision_assets.core.ingest import RAW_VIDEO_COLUMNS, files_for_partition, ingest_partition

    class FlakyLake(Lake):
        def stage_file(self, source, cache_dir):
            if source.name == "b.mp4":
                raise PermissionError(13, "Permission denied", str(source))
            return super().stage_file(source, cache_dir)

    settings = settings_for(tmp_path / "data")
    for name in ("a.mp4", "b.mp4"):
        place(settings, material / "videos" / "realshort.mp4", f"gate/2024-01-01/{name}")
    lake = FlakyLake(settings.lake_root)
    files = files_for_partition(settings.landing_dir, "gate", "2024-01-01")
    # A table from before signatures, near-duplicates and normalisation existed.
    old_columns = [c for c in RAW_VIDEO_COLUMNS if c not in {
        "signature", "near_duplicate_of", "near_duplicate_sha256", "near_duplicate_distance", "normalised_path",
        "normalised", "fps_header", "keyframes", "tags", "partition_from", "ingested_at"}]
    first = ingest_partition(Lake(settings.lake_root), files[:1], None, tmp_path / "cache")
    old = first[old_columns]

    table = ingest_partition(lake, files, old, tmp_path / "cache").set_index("source_name")

    assert table.loc["b.mp4", "outcome"] == "failed" and "Permission denied" in table.loc["b.mp4", "reason"]
    assert table.loc["a.mp4", "outcome"] == "ok" and len(table.loc["a.mp4", "signature"]) == 5 * 64  # probed again
    assert (table["near_duplicate_of"] == "").all() and not table["near_duplicate_of"].isna().any()
    assert not list((tmp_path / "cache").rglob("*.mp4")), "no staged copy left behind"
    assert pd.isna(table.loc["a.mp4", "near_duplicate_distance"])


def test_a_scene_override_inherits_what_it_does_not_set():
    from vision_assets.defs.wiring import _sampling_policy

    policy = _sampling_policy({"default": {"params": {"every_seconds": 2.0}, "blur_faces": True},
                               "scenes": {"lot": {"strategy": "keyframes"}, "street": {"near_duplicate_distance": 0}}})

    lot, street, other = (policy.for_scene(s) for s in ("lot", "street", "other"))
    assert (lot.strategy, lot.params, lot.blur_faces) == ("keyframes", {}, True)  # keyframes' own parameters
    assert (street.strategy, street.params, street.near_duplicate_distance) == ("fixed_interval", {"every_seconds": 2.0}, 0)
    assert other == policy.default


def test_two_files_of_one_name_in_one_partition_are_not_confused(tmp_path, material):
    settings = settings_for(tmp_path / "data")
    place(settings, material / "videos" / "realshort.mp4", "dock/2024-05-06/a.mp4")
    place(settings, material / "videos" / "realshort.mp4", "a.mp4", {"scene": "dock", "day": "2024-05-06"})

    found = {str(f.path.relative_to(settings.landing_dir)): f.refused for f in scan_landing(settings.landing_dir)}

    assert found["a.mp4"] == ""
    assert "another file named 'a.mp4' already lands in dock/2024-05-06" in found["dock/2024-05-06/a.mp4"]
