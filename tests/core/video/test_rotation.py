"""A phone clip stored sideways with a display matrix (the `rotate` tag of older muxers) is recorded with its
rotation and sampled upright."""

from __future__ import annotations

import shutil
from fractions import Fraction

import av
import numpy as np
import pytest

from vision_assets.core.sampling import get_strategy
from vision_assets.core.sampling.sampler import sample_video_file
from vision_assets.core.video import probe_video


def _sideways_clip(path, degrees: int):
    """64x32 coded frames, the left quarter white, whose display matrix says: turn `degrees` counter-clockwise."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(degrees)
        for index in range(10):
            image = np.zeros((32, 64, 3), np.uint8)
            image[:, :16] = 255
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, 10)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize("degrees, size, white", [
    (90, (32, 64), "bottom"),  # turned counter-clockwise, the left edge comes to the bottom
    (270, (32, 64), "top"),
    (180, (64, 32), "right"),
])
def test_a_rotated_clip_is_probed_and_sampled_upright(tmp_path, degrees, size, white):
    clip = _sideways_clip(tmp_path / "phone.mp4", degrees)

    probe = probe_video(clip)
    sampled = sample_video_file(clip, get_strategy("fixed_interval", every_seconds=0.5))

    assert (probe.rotation, probe.width, probe.height) == (degrees, *size)
    assert sampled.rotation == degrees and sampled.frames
    import cv2

    image = cv2.imdecode(np.frombuffer(sampled.frames[0].jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert (image.shape[1], image.shape[0]) == size
    edges = {"bottom": image[-8:, :], "top": image[:8, :], "right": image[:, -8:], "left": image[:, :8]}
    brightest = max(edges, key=lambda edge: float(edges[edge].mean()))
    assert brightest == white and edges[white].mean() > 200


def test_ingest_records_the_rotation(tmp_path):
    from vision_assets.core.ingest import ingest_partition
    from vision_assets.core.ingest.landing import scan_landing
    from vision_assets.core.lake import Lake

    landing = tmp_path / "landing" / "cam-1" / "2024-01-02"
    landing.mkdir(parents=True)
    shutil.move(_sideways_clip(tmp_path / "phone.mp4", 90), landing / "phone.mp4")

    table = ingest_partition(Lake(str(tmp_path / "lake")), scan_landing(tmp_path / "landing"), None, tmp_path / "cache")

    assert table[["rotation", "width", "height"]].values.tolist() == [[90, 32, 64]]
