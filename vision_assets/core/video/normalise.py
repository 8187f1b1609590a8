"""Optional transcoding of a video to one standard codec, size and frame rate (off by default).

Frames are picked by their decoded timestamps, never by the header's frame rate, which may lie.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from vision_assets.core.errors import InvalidInput, InvalidOption
from vision_assets.core.lake import atomic_path

FALLBACK_CODEC = "mpeg4"
# MPEG-4 part 2 has no CRF; a fixed quantiser near ffmpeg's "visually good" range stands in for it.
MPEG4_QSCALE = 4
_LAMBDA_PER_QP = 118  # FFmpeg's FF_QP2LAMBDA: global_quality is a quantiser expressed in lambda units
_CRF_ENCODERS = frozenset({"libx264", "libx265"})
# Time base of a resampled output: fine enough that 1/fps for common (and NTSC) rates is exact or near.
_RESAMPLED_TIME_BASE = Fraction(1, 90000)


@dataclass(frozen=True)
class NormaliseSpec:
    enabled: bool = False
    codec: str = "h264"
    fps: float | None = None  # None keeps every frame at its own timestamp
    max_height: int | None = None  # None keeps the height; never upscales
    crf: int = 23  # x264/x265 constant quality, lower is better
    bit_rate: int | None = None  # bits/s; when set it replaces crf / the MPEG-4 quantiser
    preset: str = "veryfast"  # x264/x265 speed against size; ignored by other encoders


def encoder_available(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except (av.error.FFmpegError, ValueError):
        return False
    return True


def resolve_codec(requested: str) -> str:
    """The requested encoder, or MPEG-4 part 2 when this FFmpeg build lacks it (e.g. no libx264)."""
    if encoder_available(requested):
        return requested
    if encoder_available(FALLBACK_CODEC):
        return FALLBACK_CODEC
    raise InvalidOption(object=f"codec {requested!r}", problem=f"neither it nor {FALLBACK_CODEC!r} can be encoded by this "
                        "FFmpeg build")


def output_size(width: int, height: int, max_height: int | None) -> tuple[int, int]:
    """Aspect ratio kept, never upscaled, both sides even (4:2:0 chroma needs even dimensions)."""
    if max_height and height > max_height:
        width, height = width * max_height / height, max_height
    return max(2, int(round(width)) // 2 * 2), max(2, int(height) // 2 * 2)


def _timed_frames(container: av.container.InputContainer, stream: av.VideoStream) -> Iterator[tuple[float, av.VideoFrame]]:
    """(seconds since the first frame, frame), skipping packets that fail to decode as ffmpeg does."""
    first = None
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            continue
        for frame in frames:
            if frame.pts is None or frame.time_base is None:
                continue
            seconds = float(frame.pts * frame.time_base)
            first = seconds if first is None else first
            yield seconds - first, frame


def _resample(timed: Iterator[tuple[float, av.VideoFrame]], fps: float) -> Iterator[tuple[float, av.VideoFrame]]:
    """Constant rate: slot k (at k/fps seconds) gets the frame whose timestamp is nearest to it.

    Frames are dropped when the source is faster and repeated when it is slower. Slots run until the last
    frame's display time ends, taken as its timestamp plus the interval before it.
    """
    step = 1.0 / fps
    slot, previous, previous_t, interval = 0, None, 0.0, step
    for t, frame in timed:
        if previous is not None:
            while slot * step < (previous_t + t) / 2:
                yield slot * step, previous
                slot += 1
            interval = t - previous_t
        previous, previous_t = frame, t
    if previous is None:
        return
    while slot * step < previous_t + interval - 1e-9:
        yield slot * step, previous
        slot += 1


def _open_output(path: Path, codec: str, spec: NormaliseSpec, size: tuple[int, int], rate: Fraction,
                 time_base: Fraction) -> tuple[av.container.OutputContainer, av.VideoStream]:
    output = av.open(str(path), "w", format="mp4")
    encoder, options = av.codec.Codec(codec, "w").name, {}
    if spec.bit_rate is None and encoder in _CRF_ENCODERS:
        options = {"crf": str(spec.crf), "preset": spec.preset}
    elif spec.bit_rate is None and encoder == "mpeg4":
        options = {"flags": "+qscale", "global_quality": str(MPEG4_QSCALE * _LAMBDA_PER_QP)}
    stream = output.add_stream(codec, rate=rate, options=options)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.time_base = time_base
    if spec.bit_rate is not None:
        stream.bit_rate = spec.bit_rate
    return output, stream


def normalise_video(src: Path, dst: Path, spec: NormaliseSpec) -> dict:
    """Transcode src to an .mp4 at dst and return what was written.

    Video only: audio and subtitle streams are dropped. The file appears at dst whole or not at all: it is
    written under a temporary name beside dst and renamed.
    """
    src, dst = Path(src), Path(dst)
    try:
        source = av.open(str(src))
    except (av.error.FFmpegError, OSError) as error:
        raise InvalidInput(object=str(src), problem=f"not a decodable video ({_why(error)})") from error
    try:
        with source, atomic_path(dst) as temp:
            if not source.streams.video:
                raise InvalidInput(object=str(src), problem="has no video stream")
            return _transcode(source, source.streams.video[0], temp, spec, src)
    except av.error.FFmpegError as error:
        raise InvalidInput(object=str(src), problem=f"transcoding failed ({_why(error)})") from error


def _why(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)


def _transcode(source: av.container.InputContainer, stream: av.VideoStream, temp: Path, spec: NormaliseSpec,
               src: Path) -> dict:
    stream.thread_type = "AUTO"
    codec = resolve_codec(spec.codec)
    decoded = {"frames": 0, "last_t": 0.0}

    def counted() -> Iterator[tuple[float, av.VideoFrame]]:
        for t, frame in _timed_frames(source, stream):
            decoded["frames"], decoded["last_t"] = decoded["frames"] + 1, t
            yield t, frame

    if spec.fps:
        rate, time_base = Fraction(spec.fps).limit_denominator(1001), _RESAMPLED_TIME_BASE
        frames = _resample(counted(), spec.fps)
    else:
        # Every frame keeps its own timestamp, so a variable frame rate survives.
        rate, time_base = stream.average_rate or Fraction(30), stream.time_base or _RESAMPLED_TIME_BASE
        frames = counted()
    output = out_stream = None
    written, last_pts = 0, -1
    try:
        for t, frame in frames:
            if output is None:
                size = output_size(frame.width, frame.height, spec.max_height)
                output, out_stream = _open_output(temp, codec, spec, size, rate, time_base)
            scaled = frame.reformat(width=out_stream.width, height=out_stream.height, format="yuv420p",
                                    interpolation="AREA")
            # Strictly increasing, as the muxer demands, even if two source frames share a timestamp.
            last_pts = max(round(t / time_base), last_pts + 1)
            scaled.pts, scaled.time_base = last_pts, time_base
            output.mux(out_stream.encode(scaled))
            written += 1
        if output is None:
            raise InvalidInput(object=str(src), problem="no frame decodes")
        output.mux(out_stream.encode(None))
    finally:
        if output is not None:
            output.close()
    measured = (decoded["frames"] - 1) / decoded["last_t"] if decoded["last_t"] > 0 else float(rate)
    return {"frames_in": decoded["frames"], "frames_out": written, "fps": round(spec.fps or measured, 6),
            "width": out_stream.width, "height": out_stream.height,
            "codec": out_stream.codec_context.codec.canonical_name, "encoder": out_stream.codec_context.name}
