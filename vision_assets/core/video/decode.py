"""Decoding with PyAV, trusting what decodes rather than what the container claims.

Headers lie: a cut-off upload still claims its full frame count, a muxer may write the wrong frame rate.
So frame counts come from the decoder, durations and frame rates from decoded timestamps, and the header's
values are kept only as claims to compare against.

numpy and OpenCV are imported where pixels are first touched, not here: `vision-assets sample` starts decoding
first and loads them (~0.13 CPU s) while the decoding thread works (sampling/sampler.py).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import av
from av.video.reformatter import VideoReformatter

from vision_assets.core.errors import VisionError

if TYPE_CHECKING:
    import numpy as np

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".ts"})
# A container may round its frame count; more than this share missing means the file was cut short.
TRUNCATION_TOLERANCE = 0.02
# A header frame rate further than this from the decoded timestamps' rate is wrong, not rounded.
FPS_TOLERANCE = 0.01
THUMBNAIL_WIDTH = 64
# Frames a decoder may emit out of packet order (B-frame reordering plus frame-thread delay); bounds the
# packets remembered to place a keyframe in display order when the frames around it are not decoded.
_REORDER_WINDOW = 64
# 8-bit formats whose first plane is the luma: grayscale pixels without any colour conversion.
# Codecs whose bitstream marks the frames no other frame is predicted from (H.264: nal_ref_idc 0), so that
# skip_frame=NONREF drops exactly those and every other frame decodes bit-identically. Not HEVC: its "sub-layer
# non-reference" pictures may still be referenced from a higher temporal sub-layer.
_MARKS_NON_REFERENCE = frozenset({"h264"})
_LUMA_FIRST = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p",
                         "yuvj440p", "yuv411p", "yuv410p", "nv12", "nv21", "gray"})


class UnreadableVideo(VisionError):
    """The file cannot be opened as a video at all; the message names the file and why."""


class DecodedFrame:
    """One decoded frame as a sampling strategy sees it.

    Index, timestamp and keyframe flag cost nothing; pixels are converted on first access only, so frames
    nobody looks at never leave the decoder's YUV buffers.
    """

    __slots__ = ("index", "timestamp", "_frame", "_reformatter", "_thumbnail", "_bgr")

    def __init__(self, frame: av.VideoFrame, index: int, timestamp: float, reformatter: VideoReformatter):
        self.index = index
        self.timestamp = timestamp
        self._frame = frame
        self._reformatter = reformatter
        self._thumbnail: np.ndarray | None = None
        self._bgr: np.ndarray | None = None

    @property
    def keyframe(self) -> bool:
        return bool(self._frame.key_frame)

    @property
    def rotation(self) -> int:
        """Counter-clockwise degrees (0, 90, 180, 270) the stream's display matrix turns the picture by to show it
        upright: phones record landscape sensor frames and say so here instead of turning the pixels."""
        return frame_rotation(self._frame)

    @property
    def width(self) -> int:
        return self._frame.height if self.rotation in (90, 270) else self._frame.width

    @property
    def height(self) -> int:
        return self._frame.width if self.rotation in (90, 270) else self._frame.height

    @property
    def luma(self) -> np.ndarray:
        """Full-resolution grayscale, upright; a view of the decoder's Y plane where the format has one and the
        picture needs no turning (no copy)."""
        import numpy as np

        frame = self._frame
        if frame.format.name not in _LUMA_FIRST:
            return upright(frame.to_ndarray(format="gray"), self.rotation)
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        return upright(rows[:, :plane.width], self.rotation)

    @property
    def thumbnail(self) -> np.ndarray:
        """A small grayscale copy (64 px wide) for cheap content comparisons between frames."""
        if self._thumbnail is None:
            import cv2

            height = max(1, round(THUMBNAIL_WIDTH * self.height / max(self.width, 1)))
            self._thumbnail = cv2.resize(self.luma, (THUMBNAIL_WIDTH, height), interpolation=cv2.INTER_AREA)
        return self._thumbnail

    @property
    def bgr(self) -> np.ndarray:
        """Full BGR image, converted by FFmpeg's swscale exactly as OpenCV's own reader converts it.

        The video's one reformatter keeps its scaler set up between frames; a fresh one per frame
        (what frame.to_ndarray does) costs three times the conversion itself."""
        if self._bgr is None:
            self._bgr = upright(self._reformatter.reformat(self._frame, format="bgr24").to_ndarray(), self.rotation)
        return self._bgr


def pts_seconds(pts: int, time_base) -> float:
    """A pts in seconds, with the very float arithmetic of PyAV's frame.time, so a time known from a packet equals
    the one its decoded frame will carry."""
    return float(pts) * time_base.numerator / time_base.denominator


def frame_rotation(frame: av.VideoFrame) -> int:
    """The display matrix's rotation as 0, 90, 180 or 270 degrees counter-clockwise (0 without one)."""
    try:
        degrees = float(frame.rotation or 0)
    except (AttributeError, ValueError, TypeError):
        return 0
    return int(round(degrees / 90.0)) % 4 * 90


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """The picture as it is meant to be seen: turned counter-clockwise by the display matrix's rotation."""
    if not rotation:
        return image
    import numpy as np

    return np.ascontiguousarray(np.rot90(image, k=rotation // 90))


@dataclass(frozen=True)
class StreamClaims:
    """What the container header says; only claims until decoding confirms them."""

    codec: str
    width: int
    height: int
    fps_header: float
    frames_claimed: int


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise UnreadableVideo(f"{path}: file does not exist")
    if path.stat().st_size == 0:
        raise UnreadableVideo(f"{path.name}: file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise UnreadableVideo(f"{path.name}: no decoder could open the container ({describe_error(error)})") from error
    if not container.streams.video:
        container.close()
        raise UnreadableVideo(f"{path.name}: the container has no video stream")
    return container


def describe_error(error: BaseException) -> str:
    """The error's type and message, for reasons that name what failed (FFmpeg errors keep it in strerror)."""
    text = getattr(error, "strerror", None) or str(error)
    return f"{type(error).__name__}: {text}"


def _configure(stream: av.video.stream.VideoStream, keyframes_only: bool) -> StreamClaims:
    stream.thread_type = "AUTO"  # frame and slice threads: decoding is most of the cost
    if keyframes_only:
        stream.codec_context.skip_frame = "NONKEY"
    context = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return StreamClaims(codec=stream.codec.canonical_name, width=context.width, height=context.height,
                        fps_header=float(rate) if rate else 0.0, frames_claimed=max(int(stream.frames or 0), 0))


class VideoSource:
    """An opened video whose frames are counted as they decode.

    keyframes_only asks the decoder to skip everything but keyframes (no full decode); the frames that
    exist are then counted from the container's packets instead of from the decoder.
    """

    def __init__(self, path: Path, *, keyframes_only: bool = False):
        self.path = path = Path(path)
        self.keyframes_only = keyframes_only
        self._container = _open(path)
        self._stream = self._container.streams.video[0]
        try:
            self.claims = _configure(self._stream, keyframes_only)
        except (av.error.FFmpegError, AttributeError, ValueError) as error:  # e.g. a codec FFmpeg lacks
            self._container.close()
            raise UnreadableVideo(f"{path.name}: no decoder for its video stream ({describe_error(error)})") from error
        self.frames_decoded = 0
        self.rotation = 0  # the display matrix's, from the first decoded frame (frame_rotation)
        self.keyframes = 0
        self.packets = 0
        self.undecodable_packets = 0
        self._decode_error = ""
        self._read_error = ""
        self._start: float | None = None  # the first decoded frame's timestamp: time zero
        self._first_packet: float | None = None
        self._last_packet: float | None = None
        self._last_frame: float | None = None
        self._reformatter = VideoReformatter()
        self._index_of: dict[int, int] | None = None  # pts -> display index, when skipping (skip_all_but)
        self._wanted: frozenset[int] = frozenset()
        self._skip_setting = ""
        self.unplanned_frames = 0  # decoded frames whose pts the demux pass did not see (skipping only)

    @property
    def time_base(self):
        """The video stream's time base: a pts times this is seconds (a Fraction, as PyAV's frame.time uses)."""
        return self._stream.time_base

    @property
    def _counts_packets(self) -> bool:
        """Frames are counted and timed from the demuxed packets, not from the decoder, which skips some."""
        return self.keyframes_only or self._index_of is not None

    def display_timeline(self) -> list[int] | None:
        """Every frame's pts in display order, from a demux-only pass over a second handle (nothing decoded), or None
        where frames cannot be skipped exactly: a codec that does not mark non-reference frames, a packet without
        a timestamp or sharing one, a stream not starting on its earliest keyframe, or a read error."""
        if self.keyframes_only or self.claims.codec not in _MARKS_NON_REFERENCE:
            return None
        timeline: list[int] = []
        try:
            with av.open(str(self.path)) as container:
                for packet in container.demux(container.streams.video[0]):
                    if not packet.size:
                        continue
                    if packet.pts is None or not (timeline or packet.is_keyframe):
                        return None
                    timeline.append(packet.pts)
        except (av.error.FFmpegError, OSError):
            return None
        ordered = sorted(timeline)
        if not ordered or ordered[0] != timeline[0] or len(set(ordered)) != len(ordered):
            return None
        return ordered

    def skip_all_but(self, timeline: list[int], wanted: set[int]) -> None:
        """Decode only the reference frames and the frames whose pts is in `wanted`; frames() then yields only the
        wanted ones, indexed by their place in `timeline` (display_timeline), and frames are counted from packets.

        A non-reference frame is by definition never used to predict another, so every yielded frame has exactly
        the pixels, index and timestamp a full decode gives it. Damaged input is where the two may part: a frame
        FFmpeg conceals can come out differently (the damage may sit in a skipped frame's bytes), and a cut-off
        file's frames are counted from the packets it still holds, some of which a full decode cannot decode."""
        self._index_of = {pts: index for index, pts in enumerate(timeline)}
        self._wanted = frozenset(wanted)

    def _skip_unless_wanted(self, pts: int | None) -> None:
        setting = "DEFAULT" if pts in self._wanted else "NONREF"
        if setting != self._skip_setting:  # read per packet, also by frame threads (copied at each submission)
            self._stream.codec_context.skip_frame = setting
            self._skip_setting = setting

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def frames(self) -> Iterator[DecodedFrame]:
        """Frames in display order with timestamps in seconds from the stream's start.

        Damage never raises (it is recorded in `error`): a packet that fails to decode is skipped, and an
        unreadable rest of the file ends the iteration, so what was decoded is the usable part of the file.
        """
        stream, time_base = self._stream, self._stream.time_base
        recent: deque[int | None] = deque(maxlen=_REORDER_WINDOW)
        try:
            for packet in self._container.demux(stream):
                if packet.size:  # the final empty packet only flushes the decoder
                    self.packets += 1
                    if self._counts_packets:  # skipped frames leave only their packets to count and time
                        recent.append(packet.pts)
                        self._track_packet_time(packet.pts, time_base)
                    if self._index_of is not None:
                        self._skip_unless_wanted(packet.pts)
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError as error:  # one damaged packet: skip it, keep what follows
                    self.undecodable_packets += 1
                    self._decode_error = self._decode_error or describe_error(error)
                    continue
                for frame in decoded:
                    wrapped = self._wrap(frame, recent)
                    if wrapped is not None:
                        yield wrapped
        except (av.error.FFmpegError, OSError) as error:  # the container itself is unreadable from here on
            self._read_error = f"reading stopped after {self.frames_decoded} frames ({describe_error(error)})"

    @property
    def error(self) -> str:
        """What went wrong while decoding, empty when nothing did."""
        problems = [self._read_error] if self._read_error else []
        if self.unplanned_frames:
            problems.append(f"{self.unplanned_frames} decoded frame(s) carry a timestamp no packet had")
        if self.undecodable_packets:
            problems.append(f"{self.undecodable_packets} packet(s) failed to decode, first: {self._decode_error}")
        return "; ".join(problems)

    def _track_packet_time(self, pts: int | None, time_base) -> None:
        if pts is None or time_base is None:
            return
        seconds = pts_seconds(pts, time_base)
        self._first_packet = seconds if self._first_packet is None else min(self._first_packet, seconds)
        self._last_packet = seconds if self._last_packet is None else max(self._last_packet, seconds)

    def _wrap(self, frame: av.VideoFrame, recent: deque) -> DecodedFrame | None:
        """The frame with its display index and time; None for a reference frame decoded only for the frames after
        it while skipping (skip_all_but)."""
        if self._index_of is not None:
            planned = self._index_of.get(frame.pts)
            if planned is None:
                self.unplanned_frames += 1
                return None
            if frame.pts not in self._wanted:
                self._note_decoded(frame, float(frame.time))
                return None
            index = planned
        elif self.keyframes_only and frame.pts is not None:
            # Display index = packets shown before this one; those shown at or after it arrived recently.
            later = sum(1 for pts in recent if pts is not None and pts >= frame.pts)
            index = self.packets - later
        else:
            index = self.frames_decoded
        seconds = frame.time
        if seconds is None:  # no timestamp at all: the header rate is the only clue left
            fps = self.claims.fps_header or 1.0
            seconds = index / fps + (self._start or 0.0)
        self._note_decoded(frame, seconds)
        return DecodedFrame(frame, index, seconds - self._start, self._reformatter)

    def _note_decoded(self, frame: av.VideoFrame, seconds: float) -> None:
        if self._start is None:
            self._start = seconds
        if not self.frames_decoded:
            self.rotation = frame_rotation(frame)
        self.frames_decoded += 1
        self.keyframes += bool(frame.key_frame)
        self._last_frame = seconds

    # -- the truth after decoding ------------------------------------------------------------------
    @property
    def frames_present(self) -> int:
        """Frames the file really holds: decoded ones, or in keyframes-only mode the packets demuxed."""
        return self.packets if self._counts_packets else self.frames_decoded

    @property
    def fps(self) -> float:
        """The header's rate unless decoded timestamps disagree with it (then theirs)."""
        header = self.claims.fps_header
        if self._counts_packets:
            count, first, last = self.packets, self._first_packet, self._last_packet
        else:
            count, first, last = self.frames_decoded, self._start, self._last_frame
        if count < 2 or first is None or last is None or last <= first:
            return header
        measured = (count - 1) / (last - first)
        if header <= 0 or abs(measured - header) > FPS_TOLERANCE * header:
            return measured
        return header

    @property
    def duration_s(self) -> float:
        """From the first to the last frame's timestamp plus one frame's display time."""
        count = self.frames_present
        if not count:
            return 0.0
        last = self._last_packet if self._counts_packets else self._last_frame
        span = (last or 0.0) - (self._start or 0.0)
        fps = self.fps
        return max(span, 0.0) + (1.0 / fps if fps > 0 else 0.0)

    def verdict(self) -> tuple[str, str]:
        """(outcome, reason): ok, truncated (the decodable part is usable) or quarantined (nothing is)."""
        name, claimed, present = self.path.name, self.claims.frames_claimed, self.frames_present
        if self.frames_decoded == 0:
            detail = f" ({self.error})" if self.error else ""
            return "quarantined", f"{name}: container opens but no frame decodes{detail}"
        if claimed and present < claimed * (1 - TRUNCATION_TOLERANCE):
            verb = "are in the file" if self._counts_packets else "decode"
            return "truncated", f"{name}: only {present} of {claimed} claimed frames {verb} (file cut short)"
        if self.error:
            return "truncated", f"{name}: {self.error}"
        return "ok", ""


_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


@contextmanager
def decoded_ahead(source: VideoSource, depth: int = 32,
                  keep: Callable[[DecodedFrame], bool] | None = None) -> Iterator[Iterator[DecodedFrame]]:
    """source.frames() decoded by a background thread while the caller works on earlier frames.

    FFmpeg decodes with the GIL released, so decoding overlaps the caller's conversion and JPEG encoding
    even when the codec itself is single-threaded (MS-MPEG4, MPEG-2). The queue is bounded so a slow
    consumer holds at most `depth` frames. Leaving the block early stops the decoder.

    With `keep`, the decoding thread asks it of every frame, in display order, and hands over only the frames it
    keeps: one hand-over (and one wake-up of the caller) per kept frame instead of per decoded frame.
    """
    frames: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for frame in source.frames():
                if stop.is_set():
                    break
                if keep is None or keep(frame):
                    frames.put(frame)
        except BaseException as error:  # re-raised in the consumer's thread below
            frames.put(_Failure(error))
        finally:
            frames.put(_END)

    ended = False

    def consume() -> Iterator[DecodedFrame]:
        nonlocal ended
        while (item := frames.get()) is not _END:
            if isinstance(item, _Failure):
                raise item.error
            yield item
        ended = True

    thread = threading.Thread(target=produce, name=f"decode-{source.path.name}", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        while not ended:  # unblock a producer waiting on a full queue, up to its end marker
            ended = frames.get() is _END
        thread.join()
