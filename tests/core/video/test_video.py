"""Probing with PyAV on the real clips of ../shared/material, perceptual hashes and video signatures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import texture, write_clip

from vision_assets.core.ingest import NEAR_DUPLICATE_DISTANCE
from vision_assets.core.video import (
    NearDuplicateIndex,
    VideoSource,
    decoded_ahead,
    hamming,
    hash_from_hex,
    hash_to_hex,
    perceptual_hash,
    probe_video,
    signature_distance,
    signature_from_hex,
)


# -- probing the real clips -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, codec, frames, size, fps, keyframes, duration", [
    ("vtest.avi", "msmpeg4v3", 795, (768, 576), 10.0, 4, 79.5),
    ("bigbuckbunny.mp4", "h264", 132, (1280, 720), 25.0, 1, 5.28),
    ("realshort.mp4", "h264", 36, (320, 240), 45000 / 1499, 2, 36 * 1499 / 45000),
])
def test_real_clips_probe_to_decoded_counts_timestamps_and_keyframes(material, name, codec, frames, size, fps,
                                                                     keyframes, duration):
    probe = probe_video(material / "videos" / name)

    assert (probe.outcome, probe.reason, probe.codec) == ("ok", "", codec)
    assert (probe.frames_decoded, probe.frames_claimed, (probe.width, probe.height)) == (frames, frames, size)
    assert probe.fps == pytest.approx(fps, abs=1e-6) and probe.fps_header == pytest.approx(fps, abs=1e-6)
    assert probe.keyframes == keyframes
    assert probe.duration_s == pytest.approx(duration, abs=1e-6)
    assert len(signature_from_hex(probe.signature)) == 5


def test_bigbuckbunny_mean_pixel_over_all_decoded_bgr_frames_matches_the_reference(material):
    total, count = 0.0, 0
    with VideoSource(material / "videos" / "bigbuckbunny.mp4") as source:
        for frame in source.frames():
            total += frame.bgr.sum(dtype=np.float64)
            count += frame.bgr.size
    assert count == 132 * 720 * 1280 * 3
    assert total / count == pytest.approx(109.28332841215979, abs=1e-9)


def test_truncated_avi_keeps_its_decodable_part_and_says_so(material):
    probe = probe_video(material / "videos" / "broken" / "vtest_truncated_2MiB.avi")

    assert (probe.outcome, probe.frames_claimed, probe.frames_decoded) == ("truncated", 795, 203)
    assert probe.reason == "vtest_truncated_2MiB.avi: only 203 of 795 claimed frames decode (file cut short)"
    assert probe.duration_s == pytest.approx(20.3)
    assert probe.signature  # the decodable part still identifies the footage


@pytest.mark.parametrize("name, expected", [
    ("empty.mp4", "empty.mp4: file is empty (0 bytes)"),
    ("bigbuckbunny_truncated_50pct_no_moov.mp4",
     "bigbuckbunny_truncated_50pct_no_moov.mp4: no decoder could open the container (InvalidDataError: "),
])
def test_undecodable_files_are_quarantined_with_a_reason_naming_them(material, name, expected):
    probe = probe_video(material / "videos" / "broken" / name)

    assert (probe.outcome, probe.frames_decoded, probe.signature) == ("quarantined", 0, "")
    assert probe.reason.startswith(expected)


def test_missing_and_non_video_files_are_quarantined_not_raised(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 100)

    assert probe_video(tmp_path / "gone.mp4").reason == f"{tmp_path / 'gone.mp4'}: file does not exist"
    probe = probe_video(text)
    assert probe.outcome == "quarantined" and probe.reason.startswith("notes.mp4: ")


def test_a_lying_header_frame_rate_is_replaced_by_the_timestamps_rate(tmp_path):
    clip = write_clip(tmp_path / "lying.mkv", [texture(i) for i in range(30)], fps=10, header_fps=25)

    probe = probe_video(clip)

    assert (probe.fps_header, probe.fps, probe.frames_decoded) == (25.0, 10.0, 30)
    assert probe.duration_s == pytest.approx(3.0)


def test_signature_matches_a_transcoded_copy_and_not_other_footage(tmp_path, material):
    original = material / "videos" / "realshort.mp4"
    with VideoSource(original) as source:
        smaller = [cv2.resize(frame.bgr, (160, 120), interpolation=cv2.INTER_AREA) for frame in source.frames()]
    copy = write_clip(tmp_path / "copy.mkv", smaller, fps=30, codec="mpeg4")

    signature = probe_video(original).signature
    assert signature_distance(signature, probe_video(copy).signature) <= NEAR_DUPLICATE_DISTANCE
    assert signature_distance(signature, probe_video(material / "videos" / "bigbuckbunny.mp4").signature) >= 100
    assert signature_distance(signature, signature) == 0.0
    assert signature_distance(signature, "") == 256.0


def test_leaving_a_decode_ahead_block_early_stops_the_decoder(material):
    with VideoSource(material / "videos" / "realshort.mp4") as source, decoded_ahead(source, depth=2) as frames:
        first = [frame.index for _, frame in zip(range(3), frames)]
    assert first == [0, 1, 2]
    assert source.frames_decoded < 36


def test_decode_ahead_hands_over_only_the_frames_keep_accepts_asked_in_display_order(material):
    asked = []

    def every_tenth(frame):
        asked.append(frame.index)
        return frame.index % 10 == 0

    with VideoSource(material / "videos" / "realshort.mp4") as source, \
            decoded_ahead(source, depth=1, keep=every_tenth) as frames:
        handed = [frame.index for frame in frames]
    assert handed == [0, 10, 20, 30]
    assert asked == list(range(36))


# -- perceptual hashes --------------------------------------------------------------------------------
def test_phash_is_stable_under_recompression_and_scaling_and_separates_different_images():
    image = texture(1, (320, 240))
    recompressed = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 40])[1], cv2.IMREAD_COLOR)
    halved = cv2.resize(image, (160, 120), interpolation=cv2.INTER_AREA)

    value = perceptual_hash(image)
    assert value == perceptual_hash(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    assert hamming(value, perceptual_hash(recompressed)) <= 4
    assert hamming(value, perceptual_hash(halved)) <= 4
    assert hamming(value, perceptual_hash(texture(2, (320, 240)))) >= 64
    assert 0 <= value < 2 ** 256


def test_hash_hex_round_trip_and_hamming():
    assert hash_to_hex(0xAB) == "0" * 62 + "ab"
    assert hash_from_hex("f" * 64) == 2 ** 256 - 1
    assert hamming(0b1011, 0b0001) == 2
    assert signature_distance([0, 0b111], [0b1, 0b1]) == 1.5


def test_near_duplicate_index_finds_hashes_within_a_distance_beyond_its_first_block():
    index = NearDuplicateIndex()
    for value in range(0, 200 * 1024, 1024):  # more than the initial capacity of 64
        index.add(value)
    assert len(index) == 200
    assert index.near(150 * 1024 + 0b11, 2) and not index.near(150 * 1024 + 0b111, 2)
    assert not index.near(2 ** 256 - 1, 10)
    assert index.near(2 ** 200 + 150 * 1024, 1)  # bits beyond the first 64-bit word count too
