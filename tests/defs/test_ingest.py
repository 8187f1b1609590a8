"""raw_videos and sampled_frames on the real clips of ../shared/material, through Dagster."""

from __future__ import annotations

import shutil

import dagster as dg
import pandas as pd
import pytest
from helpers import settings_for

from vision_assets.core.lake import Lake
from vision_assets.core.video import probe_video
from vision_assets.defs.frames import sampled_frames
from vision_assets.defs.ingest import raw_videos
from vision_assets.defs.partitions import scene_day, scene_day_key
from vision_assets.defs.wiring import build_resources

VTEST_SHA = "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"


def land(settings, scene, day, *files):
    folder = settings.landing_dir / scene / day
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copy(file, folder / file.name)


def materialize_partition(settings, instance, scene, day, assets=(raw_videos,)):
    instance.add_dynamic_partitions(scene_day.name, [scene_day_key(scene, day)])
    return dg.materialize(list(assets), partition_key=scene_day_key(scene, day), instance=instance,
                          resources=build_resources(settings), raise_on_error=False)


@pytest.mark.parametrize("name, frames, width, height", [
    ("vtest.avi", 795, 768, 576), ("bigbuckbunny.mp4", 132, 1280, 720), ("realshort.mp4", 36, 320, 240)])
def test_real_clips_probe_to_decoded_frame_counts(material, name, frames, width, height):
    probe = probe_video(material / "videos" / name)
    assert (probe.outcome, probe.frames_decoded, probe.width, probe.height) == ("ok", frames, width, height)


def test_truncated_avi_is_detected_by_decoded_versus_claimed_count(material):
    probe = probe_video(material / "videos" / "broken" / "vtest_truncated_2MiB.avi")
    assert (probe.outcome, probe.frames_claimed, probe.frames_decoded) == ("truncated", 795, 203)
    assert "203 of 795" in probe.reason


def test_real_videos_ingest_with_decoded_frame_counts_and_content_address(tmp_path, instance, material):
    settings = settings_for(tmp_path / "data")
    videos = material / "videos"
    land(settings, "campus", "2024-03-01", videos / "vtest.avi", videos / "bigbuckbunny.mp4", videos / "realshort.mp4")

    result = materialize_partition(settings, instance, "campus", "2024-03-01", assets=(raw_videos, sampled_frames))

    assert result.success
    table = Lake(settings.lake_root).read_table("raw_videos", {"scene": "campus", "day": "2024-03-01"})
    counts = dict(zip(table["source_name"], table["frames_decoded"]))
    assert counts == {"vtest.avi": 795, "bigbuckbunny.mp4": 132, "realshort.mp4": 36}
    assert set(table["outcome"]) == {"ok"}
    vtest = table[table["source_name"] == "vtest.avi"].iloc[0]
    assert vtest["video_sha256"] == VTEST_SHA
    assert vtest["stored_path"].endswith(f"blobs/videos/45/{VTEST_SHA}.avi")
    frames = Lake(settings.lake_root).read_table("sampled_frames", {"scene": "campus", "day": "2024-03-01"})
    vtest_frames = frames[frames["video_sha256"] == VTEST_SHA]
    # 795 frames at 10 fps (0.0 .. 79.4 s), one every 0.5 s: every 5th frame, 159 of them, less one moment when
    # nobody moved (frame 410 hashes within 4 of 256 bits of an earlier frame).
    every_fifth = list(range(0, 795, 5))
    every_fifth.remove(410)
    assert vtest_frames["frame_index"].tolist() == every_fifth
    assert frames["frame_sha256"].is_unique


def test_broken_video_is_quarantined_while_the_good_one_beside_it_is_processed(tmp_path, instance, material):
    settings = settings_for(tmp_path / "data")
    broken = material / "videos" / "broken"
    land(settings, "gate", "2024-03-02", material / "videos" / "realshort.mp4",
         broken / "bigbuckbunny_truncated_50pct_no_moov.mp4", broken / "empty.mp4")

    result = materialize_partition(settings, instance, "gate", "2024-03-02", assets=(raw_videos, sampled_frames))

    assert result.success
    lake = Lake(settings.lake_root)
    table = lake.read_table("raw_videos", {"scene": "gate", "day": "2024-03-02"}).set_index("source_name")
    assert table.loc["realshort.mp4", "outcome"] == "ok"
    assert table.loc["empty.mp4", "outcome"] == "quarantined"
    assert "empty" in table.loc["empty.mp4", "reason"]
    assert table.loc["bigbuckbunny_truncated_50pct_no_moov.mp4", "outcome"] == "quarantined"
    assert "could open" in table.loc["bigbuckbunny_truncated_50pct_no_moov.mp4", "reason"]
    for name in ("empty.mp4", "bigbuckbunny_truncated_50pct_no_moov.mp4"):
        digest = table.loc[name, "video_sha256"]
        assert lake.read_json(f"quarantine/{digest}.json")["reason"] == table.loc[name, "reason"]
    frames = lake.read_table("sampled_frames", {"scene": "gate", "day": "2024-03-02"})
    assert set(frames["video_sha256"]) == {table.loc["realshort.mp4", "video_sha256"]}
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == "videos_decodable" and not check.passed


def test_rerunning_a_partition_is_idempotent(tmp_path, instance, material):
    settings = settings_for(tmp_path / "data")
    land(settings, "gate", "2024-03-02", material / "videos" / "realshort.mp4")
    assert materialize_partition(settings, instance, "gate", "2024-03-02").success
    lake = Lake(settings.lake_root)
    first = lake.read_table("raw_videos", {"scene": "gate", "day": "2024-03-02"})
    blobs = sorted(p.name for p in (tmp_path / "data" / "lake" / "blobs").rglob("*"))

    assert materialize_partition(settings, instance, "gate", "2024-03-02").success

    pd.testing.assert_frame_equal(first, lake.read_table("raw_videos", {"scene": "gate", "day": "2024-03-02"}))
    assert sorted(p.name for p in (tmp_path / "data" / "lake" / "blobs").rglob("*")) == blobs
    assert not list((tmp_path / "data" / "lake").rglob("*.partial"))
