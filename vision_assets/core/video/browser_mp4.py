"""MP4 files a browser plays (Label Studio's player, an HTML report): H.264, yuv420p, the index up front.

Chromium plays neither MPEG-4 Part 2 (`mp4v`, what OpenCV's VideoWriter writes) nor 4:4:4 H.264, and an MP4 whose
index (moov) sits at the end cannot start before the whole file has loaded. Frame n of what is written here is shown
at n / fps: nothing is dropped or duplicated, so a frame number in a labelling tool is the decoder's frame index.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vision_assets.core.errors import InvalidInput
from vision_assets.core.lake import atomic_path
from vision_assets.core.video.decode import VideoSource

CODEC = "libx264"
PIX_FMT = "yuv420p"
# x264 constant quality: 20 keeps small boxes' edges. "superfast": half veryfast's time for 1.7x its size (vtest.avi,
# 795 frames of 768x576: 15 s against 31 s on two shared cores); queues and replays are written often.
CRF, PRESET = "20", "superfast"


def frame_rate(fps: float) -> Fraction:
    """The fraction a float rate stands for (29.97002997 is 30000/1001, 30.02001334 is 45000/1499)."""
    if not fps or fps <= 0:
        raise ValueError(f"a browser video needs a positive frame rate, not {fps!r}")
    return Fraction(fps).limit_denominator(100_000)


class BrowserMp4Writer:
    """Writes BGR frames (numpy HxWx3 uint8) as a constant-rate H.264 MP4; the file appears whole at close or not at
    all. Odd sizes are padded by one pixel on the right or bottom (4:2:0 needs even sides), so pixel coordinates keep
    their meaning."""

    def __init__(self, path: Path, fps: float, width: int, height: int):
        self.path, self.size = Path(path), (int(width), int(height))
        self.rate = frame_rate(fps)
        self.frames = 0
        self._atomic = atomic_path(self.path)
        temp = self._atomic.__enter__()
        self._output = av.open(str(temp), "w", format="mp4", options={"movflags": "+faststart"})
        self._stream = self._output.add_stream(CODEC, rate=self.rate, options={"crf": CRF, "preset": PRESET})
        self._stream.width, self._stream.height = (side + side % 2 for side in self.size)
        self._stream.pix_fmt = PIX_FMT
        self._stream.time_base = 1 / self.rate

    def write(self, bgr: np.ndarray) -> None:
        height, width = bgr.shape[:2]
        if (width, height) != self.size:
            raise ValueError(f"{self.path.name}: frame {self.frames} is {width}x{height}, the video {self.size[0]}x"
                             f"{self.size[1]}")
        padded = np.pad(bgr, ((0, self._stream.height - height), (0, self._stream.width - width), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="bgr24")
        frame.pts = self.frames  # time base 1/fps: frame n at n / fps, whatever the source's timestamps were
        for packet in self._stream.encode(frame):
            self._output.mux(packet)
        self.frames += 1

    def close(self, failed: BaseException | None = None) -> None:
        try:
            if failed is None:
                for packet in self._stream.encode():
                    self._output.mux(packet)
            self._output.close()
        finally:
            exc = (type(failed), failed, failed.__traceback__) if failed else (None, None, None)
            self._atomic.__exit__(*exc)

    def __enter__(self) -> BrowserMp4Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exc)


def transcode_for_browser(src: Path, dst: Path, fps: float) -> dict:
    """Every decoded frame of src, in order, as a browser-playable MP4 at dst at fps (the rate the project counts the
    video at). Returns frames written, fps, width and height."""
    with VideoSource(Path(src)) as source:
        writer = None
        try:
            for frame in source.frames():
                image = frame.bgr
                if writer is None:
                    writer = BrowserMp4Writer(dst, fps, image.shape[1], image.shape[0])
                writer.write(image)
        except BaseException as error:
            if writer is not None:
                writer.close(error)
            raise
        if writer is None:
            raise InvalidInput(object=Path(src).name, problem="no frame decodes, nothing to transcode")
        writer.close()
    return {"frames": writer.frames, "fps": float(writer.rate), "width": writer.size[0], "height": writer.size[1]}


def describe_browser_mp4(path: Path) -> dict:
    """What transcode_for_browser returned for a file it wrote, read from the container (no decoding)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for packet in container.demux(stream) if packet.size)
        return {"frames": frames, "fps": float(stream.average_rate), "width": stream.width, "height": stream.height}
