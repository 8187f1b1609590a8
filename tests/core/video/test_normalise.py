"""Normalisation on a real clip: sizes, timestamp-based frame rate, codec, and a file that is whole or absent."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from vision_assets.core.video import NormaliseSpec, normalise, normalise_video, output_size, resolve_codec


def _decoded(path: Path) -> tuple[str, int, int, list[float]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(frame.pts * frame.time_base) for frame in container.decode(stream)]
        return stream.codec_context.name, stream.width, stream.height, times


def test_off_by_default():
    assert NormaliseSpec().enabled is False


def test_output_size_keeps_aspect_even_and_never_upscales():
    assert output_size(320, 240, 120) == (160, 120)
    assert output_size(1280, 720, 240) == (426, 240)  # 426.67 rounded, then made even
    assert output_size(320, 240, 480) == (320, 240)
    assert output_size(321, 241, None) == (320, 240)


def test_resample_to_10fps_and_downscale(material, tmp_path):
    dst = tmp_path / "out" / "short.mp4"
    facts = normalise_video(material / "videos" / "realshort.mp4", dst, NormaliseSpec(enabled=True, fps=10,
                                                                                      max_height=120))
    codec, width, height, times = _decoded(dst)
    expected_codec = "h264" if resolve_codec("h264") == "h264" else "mpeg4"
    # 36 frames 1499/45000 s apart: the last starts at 1.1659 s and is shown until 1.1992 s, so 10 fps slots
    # at 0.0, 0.1, ..., 1.1 fit (12) and 1.2 does not.
    assert (codec, width, height, len(times)) == (expected_codec, 160, 120, 12)
    assert times == pytest.approx([k / 10 for k in range(12)], abs=1e-6)
    assert facts == {"frames_in": 36, "frames_out": 12, "fps": 10, "width": 160, "height": 120,
                     "codec": expected_codec, "encoder": facts["encoder"]}


def test_no_fps_keeps_every_frame_at_its_timestamp(material, tmp_path):
    dst = tmp_path / "short.mp4"
    facts = normalise_video(material / "videos" / "realshort.mp4", dst, NormaliseSpec(enabled=True))
    _, width, height, times = _decoded(dst)
    assert (width, height, len(times), facts["frames_out"]) == (320, 240, 36, 36)
    assert times == pytest.approx([k * 1499 / 45000 for k in range(36)], abs=1e-4)
    assert facts["fps"] == pytest.approx(45000 / 1499, rel=1e-4)


def test_mpeg4_encodes_too(material, tmp_path):
    dst = tmp_path / "short.mp4"
    facts = normalise_video(material / "videos" / "realshort.mp4", dst,
                            NormaliseSpec(enabled=True, codec="mpeg4", fps=10, max_height=120))
    assert _decoded(dst)[:3] == ("mpeg4", 160, 120) and facts["frames_out"] == 12


def test_undecodable_source_leaves_nothing(material, tmp_path):
    dst = tmp_path / "out.mp4"
    broken = material / "videos" / "broken" / "bigbuckbunny_truncated_50pct_no_moov.mp4"
    with pytest.raises(ValueError, match="bigbuckbunny_truncated_50pct_no_moov.mp4"):
        normalise_video(broken, dst, NormaliseSpec(enabled=True))
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_transcode_keeps_the_old_file_whole(material, tmp_path, monkeypatch):
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous version")
    real_frames = normalise._timed_frames

    def dies_after_five(container, stream):
        for count, item in enumerate(real_frames(container, stream)):
            if count == 5:
                raise OSError("disk went away")
            yield item

    monkeypatch.setattr(normalise, "_timed_frames", dies_after_five)
    with pytest.raises(OSError, match="disk went away"):
        normalise_video(material / "videos" / "realshort.mp4", dst, NormaliseSpec(enabled=True))
    assert dst.read_bytes() == b"previous version"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
