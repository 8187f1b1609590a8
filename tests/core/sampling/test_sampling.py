"""Sampling strategies on generated clips with known content, the plugin registry, reports and partitions."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from helpers import texture, write_clip

from vision_assets.core.lake import Lake
from vision_assets.core.sampling import (
    FRAME_COLUMNS,
    STRATEGIES,
    SamplingPlan,
    SamplingStrategy,
    StrategyError,
    get_strategy,
    register_strategy,
    sample_file_report,
    sample_partition,
    sample_video_file,
)
from vision_assets.core.video import VideoSource, hamming, hash_from_hex, perceptual_hash

# x264 places keyframes on scene cuts by default; these options pin a keyframe to every 10th frame.
FIXED_GOP = {"x264-params": "keyint=10:min-keyint=10:scenecut=0:bframes=3", "crf": "12"}


@pytest.fixture
def three_scenes(tmp_path) -> Path:
    """Static patterned shots cut at frames 12 and 21."""
    images = [texture(1)] * 12 + [texture(2)] * 9 + [texture(3)] * 10
    return write_clip(tmp_path / "scenes.mp4", images, options={"crf": "12"})


@pytest.fixture
def moving_square(tmp_path) -> Path:
    """A static background; a square moves 8 px per frame in frames 20..34 only (50 frames at 10 fps)."""
    background, images = texture(5), []
    for index in range(50):
        image = background.copy()
        x = 10 + 8 * min(max(index - 19, 0), 15)
        image[30:70, x:x + 40] = (0, 0, 255)
        images.append(image)
    return write_clip(tmp_path / "motion.mp4", images, options={"crf": "12"})


def kept_indices(path: Path, name: str, distance: int = -1, **params) -> list[int]:
    return [frame.index for frame in sample_video_file(path, get_strategy(name, **params),
                                                       near_duplicate_distance=distance).frames]


# -- built-in strategies --------------------------------------------------------------------------------
def test_scene_change_keeps_exactly_the_first_frame_and_the_first_frame_after_each_cut(three_scenes):
    assert kept_indices(three_scenes, "scene_change", distance=4) == [0, 12, 21]


def test_scene_change_finds_no_cut_in_the_static_campus_camera(material):
    result = sample_video_file(material / "videos" / "vtest.avi", get_strategy("scene_change"))
    assert [frame.index for frame in result.frames] == [0]
    assert (result.outcome, result.frames_decoded, result.codec) == ("ok", 795, "msmpeg4v3")


def test_motion_keeps_frames_only_while_something_moves_and_spaces_them(moving_square):
    every_moving_frame = kept_indices(moving_square, "motion", min_gap_seconds=0.0)
    assert every_moving_frame == list(range(20, 35))
    assert kept_indices(moving_square, "motion", min_gap_seconds=0.5) == [20, 25, 30]


def test_fixed_interval_follows_timestamps_when_the_header_frame_rate_lies(tmp_path):
    clip = write_clip(tmp_path / "lying.mkv", [texture(i) for i in range(30)], fps=10, header_fps=25)

    result = sample_video_file(clip, get_strategy("fixed_interval", every_seconds=1.0))

    assert [(frame.index, frame.timestamp) for frame in result.frames] == [(0, 0.0), (10, 1.0), (20, 2.0)]
    assert (result.fps_header, result.fps) == (25.0, 10.0)


def test_fixed_interval_on_a_non_integer_frame_rate(material):
    result = sample_video_file(material / "videos" / "realshort.mp4", get_strategy("fixed_interval"),
                               near_duplicate_distance=-1)
    # 1499/45000 s per frame: frame 15 is at 0.4997 s, so frame 16 (0.5329 s) is the first at or after 0.5 s.
    assert [frame.index for frame in result.frames] == [0, 16, 31]
    assert [frame.timestamp for frame in result.frames] == [0.0, round(16 * 1499 / 45000, 6), round(31 * 1499 / 45000, 6)]
    assert result.fps == pytest.approx(45000 / 1499)


def test_keyframes_strategy_returns_exactly_the_keyframes_of_a_full_decode(tmp_path, material):
    clip = write_clip(tmp_path / "gop.mp4", [texture(i % 7) for i in range(40)], options=FIXED_GOP)
    with VideoSource(clip) as source:
        truth = [frame.index for frame in source.frames() if frame.keyframe]

    result = sample_video_file(clip, get_strategy("keyframes"), near_duplicate_distance=-1)

    assert truth == [0, 10, 20, 30]
    assert [frame.index for frame in result.frames] == truth
    assert (result.outcome, result.frames_decoded) == ("ok", 4)  # nothing but the keyframes was decoded
    assert kept_indices(material / "videos" / "realshort.mp4", "keyframes") == [0, 30]


def test_fixed_interval_skips_unreferenced_frames_and_keeps_exactly_what_a_full_decode_keeps(tmp_path, material):
    class DecodesEveryFrame(STRATEGIES["fixed_interval"]):  # same decisions, but on decoded frames
        decides_on_timestamps = False

    clip = write_clip(tmp_path / "bframes.mp4", [texture(i % 7) for i in range(60)], options=FIXED_GOP)
    for video, every in ((clip, 0.7), (clip, 0.3), (material / "videos" / "bigbuckbunny.mp4", 1.0)):
        skipping = sample_video_file(video, get_strategy("fixed_interval", every_seconds=every), near_duplicate_distance=-1)
        full = sample_video_file(video, DecodesEveryFrame(every_seconds=every), near_duplicate_distance=-1)

        assert len(skipping.frames) >= 6
        assert skipping.frames == full.frames  # indices, timestamps, JPEG bytes and hashes
        assert [(r.outcome, r.frames_decoded, r.fps, r.duration_s) for r in (skipping, full)] == \
            [(full.outcome, full.frames_decoded, full.fps, full.duration_s)] * 2

    with VideoSource(clip) as source:  # what the decoder really did: reference frames and the wanted one only
        timeline = source.display_timeline()
        source.skip_all_but(timeline, {timeline[5]})
        assert [frame.index for frame in source.frames()] == [5]
        assert source.frames_present == 60 and 0 < source.frames_decoded < 60
    with VideoSource(material / "videos" / "vtest.avi") as avi:  # MS-MPEG4 marks no frame as unreferenced
        assert avi.display_timeline() is None


def test_near_duplicates_are_dropped_and_counted(tmp_path):
    static = write_clip(tmp_path / "static.mp4", [texture(4)] * 20, options={"crf": "12"})

    result = sample_video_file(static, get_strategy("fixed_interval", every_seconds=0.1))

    assert [frame.index for frame in result.frames] == [0]
    assert result.near_duplicates_dropped == 19
    kept_all = sample_video_file(static, get_strategy("fixed_interval", every_seconds=0.1), near_duplicate_distance=-1)
    assert len(kept_all.frames) == 20 and kept_all.near_duplicates_dropped == 0


def test_kept_frames_are_jpegs_with_their_hashes_and_the_transform_applied(material):
    def black_out(image):
        return np.zeros_like(image), {"blurred": True, "blur_regions": 2}

    result = sample_video_file(material / "videos" / "realshort.mp4", get_strategy("keyframes"), transform=black_out)
    plain = sample_video_file(material / "videos" / "realshort.mp4", get_strategy("keyframes"))

    first, original = result.frames[0], plain.frames[0]
    assert first.transform == {"blurred": True, "blur_regions": 2}
    decoded = cv2.imdecode(np.frombuffer(first.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (240, 320, 3) and decoded.max() <= 2
    assert (first.width, first.height) == (320, 240)
    assert len(first.sha256) == 64 and first.sha256 != original.sha256
    # The pHash describes the footage, taken before the transform, so blurring never hides a duplicate.
    assert first.phash == original.phash
    picture = cv2.imdecode(np.frombuffer(original.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert hamming(original.phash, perceptual_hash(picture)) <= 4


def test_truncated_file_is_sampled_up_to_where_it_breaks(material):
    result = sample_video_file(material / "videos" / "broken" / "vtest_truncated_2MiB.avi",
                               get_strategy("fixed_interval", every_seconds=5.0), near_duplicate_distance=-1)
    assert [frame.index for frame in result.frames] == [0, 50, 100, 150, 200]
    assert (result.outcome, result.frames_claimed, result.frames_decoded) == ("truncated", 795, 203)


# -- the plugin registry --------------------------------------------------------------------------------
@pytest.fixture
def every_nth():
    @register_strategy
    class EveryNth(SamplingStrategy):
        name = "every_nth"
        defaults = {"n": 10}

        def wants(self, frame):
            return frame.index % self.params["n"] == 0

    yield EveryNth
    STRATEGIES.pop("every_nth")


def test_a_strategy_registered_elsewhere_is_usable_by_name(every_nth, material):
    strategy = get_strategy("every_nth", n="12")  # CLI values arrive as text and are coerced

    assert isinstance(strategy, every_nth) and strategy.params == {"n": 12}
    assert kept_indices(material / "videos" / "realshort.mp4", "every_nth", n=12) == [0, 12, 24]
    report = sample_file_report(material / "videos" / "realshort.mp4", "every_nth", {"n": 18})
    assert (report["strategy"], report["params"], [f["index"] for f in report["frames"]]) == ("every_nth", {"n": 18}, [0, 18])


def test_unknown_names_and_bad_parameters_are_clear_errors():
    with pytest.raises(StrategyError, match="unknown sampling strategy 'nope'; known: fixed_interval, keyframes, "
                                            "motion, scene_change"):
        get_strategy("nope")
    with pytest.raises(StrategyError, match=r"has no parameter every; accepted: every_seconds \(default 0.5\)"):
        get_strategy("fixed_interval", every=2)
    with pytest.raises(StrategyError, match="every_seconds must be > 0, got 0.0"):
        get_strategy("fixed_interval", every_seconds=0)
    with pytest.raises(StrategyError, match="threshold='high' is not a valid float"):
        get_strategy("scene_change", threshold="high")


# -- the CLI report --------------------------------------------------------------------------------------
def test_report_writes_the_kept_frames_and_is_json(tmp_path, material):
    report = sample_file_report(material / "videos" / "realshort.mp4", "fixed_interval", {"every_seconds": 0.5},
                                out_dir=tmp_path / "out")

    assert json.loads(json.dumps(report)) == report
    assert (report["outcome"], report["frames_claimed"], report["frames_decoded"]) == ("ok", 36, 36)
    assert report["fps"] == pytest.approx(30.020013) and report["params"] == {"every_seconds": 0.5}
    assert [frame["index"] for frame in report["frames"]] == [0, 16, 31] and report["kept"] == 3
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert written == ["frame_000000.jpg", "frame_000016.jpg", "frame_000031.jpg"]
    image = cv2.imread(report["frames"][1]["path"])
    assert image.shape == (240, 320, 3)
    assert hamming(hash_from_hex(report["frames"][1]["phash"]), perceptual_hash(image)) <= 8  # JPEG moves a few bits


@pytest.mark.parametrize("name", ["empty.mp4", "bigbuckbunny_truncated_50pct_no_moov.mp4"])
def test_report_on_a_broken_file_is_a_quarantined_result(tmp_path, material, name):
    report = sample_file_report(material / "videos" / "broken" / name, "fixed_interval", None, out_dir=tmp_path)

    assert (report["outcome"], report["frames"], report["frames_decoded"]) == ("quarantined", [], 0)
    assert report["reason"].startswith(f"{name}: ")
    assert list(tmp_path.iterdir()) == []


# -- a partition --------------------------------------------------------------------------------------------
def test_partition_table_has_one_row_per_kept_frame_and_stats(tmp_path, three_scenes, material):
    lake = Lake(str(tmp_path / "lake"))
    videos = pd.DataFrame([
        {"video_sha256": "a" * 64, "stored_path": str(material / "videos" / "broken" / "empty.mp4"),
         "normalised_path": str(three_scenes), "lighting": "day"},
        {"video_sha256": "b" * 64, "stored_path": str(material / "videos" / "realshort.mp4"),
         "normalised_path": "", "lighting": "night"},
    ])
    plan = SamplingPlan(get_strategy("scene_change"), transform=lambda image: (image, {"blur_regions": 1}))

    table, stats = sample_partition(lake, videos, plan, tmp_path / "cache", workers=2)

    assert list(table.columns) == FRAME_COLUMNS
    assert table["frame_index"].tolist() == [0, 12, 21, 0]
    assert table["lighting"].tolist() == ["day"] * 3 + ["night"]
    assert set(table["strategy"]) == {"scene_change"}
    assert json.loads(table["params"][0]) == {"threshold": 30.0, "min_gap_seconds": 0.0}
    assert table["phash"].str.fullmatch("[0-9a-f]{64}").all()
    assert table["blurred"].tolist() == [True] * 4 and table["blur_regions"].tolist() == [1] * 4
    assert all(Path(lake.path(key)).is_file() for key in table["image_path"])  # lake keys, resolved by the lake
    assert stats["per_video"]["a" * 64]["kept"] == 3 and stats["per_video"]["b" * 64]["kept"] == 1
    assert stats["frames"] == 4 and stats["near_duplicates_dropped"] == 0
