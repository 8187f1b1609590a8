"""Sampling one video file: decode it, keep the frames a strategy wants, drop near-duplicates, encode JPEGs.

The pixel libraries (numpy, OpenCV: ~0.13 CPU s) are imported once the decoding thread has started, so a process
that samples one file (`vision-assets sample`) loads them while its first frames decode instead of before."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vision_assets.core.sampling.strategies import SamplingStrategy, get_strategy
from vision_assets.core.video import DecodedFrame, UnreadableVideo, VideoSource, decoded_ahead, pts_seconds

if TYPE_CHECKING:
    import numpy as np

# Applied to each kept BGR frame before encoding (e.g. blurring faces): returns the frame and what it did.
Transform = Callable[["np.ndarray"], tuple["np.ndarray", dict]]


@dataclass(frozen=True)
class KeptFrame:
    index: int
    timestamp: float
    jpeg: bytes  # empty when the sampler was told not to keep bytes (on_frame already stored them)
    width: int
    height: int
    sha256: str
    phash: int
    transform: dict = field(default_factory=dict)  # what the transform reported (e.g. regions blurred)

    @property
    def phash_hex(self) -> str:
        from vision_assets.core.video.phash import hash_to_hex

        return hash_to_hex(self.phash)


@dataclass
class SampleResult:
    """Everything sampling one file produced; a broken file is an outcome here, never an exception."""

    path: str
    strategy: str
    params: dict
    outcome: str  # ok | truncated | quarantined
    reason: str
    codec: str = "unknown"
    fps: float = 0.0
    fps_header: float = 0.0
    frames_claimed: int = 0
    frames_decoded: int = 0  # frames the file holds as decoded; counted from the packets where some were skipped
    duration_s: float = 0.0
    frames: list[KeptFrame] = field(default_factory=list)
    near_duplicates_dropped: int = 0
    rotation: int = 0  # the display matrix's (counter-clockwise degrees); kept frames are already upright


def sample_video_file(path: Path, strategy: SamplingStrategy, *, near_duplicate_distance: int = 4,
                      transform: Transform | None = None, jpeg_quality: int = 90,
                      on_frame: Callable[[KeptFrame], None] | None = None, keep_jpeg: bool = True) -> SampleResult:
    """Decode `path`, keep the frames `strategy` wants, drop near-duplicates, JPEG-encode the rest.

    A kept frame whose pHash is within `near_duplicate_distance` bits of a frame already kept from this video
    is dropped and counted (negative disables). Duplicates are dropped before `transform` and encoding, so they
    cost neither. Only kept frames are ever converted to BGR; on_frame sees each kept frame as it is made.
    """
    path = Path(path)
    per_video = strategy.for_video()
    result = SampleResult(path=str(path), strategy=strategy.name, params=dict(strategy.params),
                          outcome="quarantined", reason="")
    try:
        source = VideoSource(path, keyframes_only=strategy.decode == "keyframes")
    except UnreadableVideo as error:
        result.reason = str(error)
        return result
    planned = _plan_on_timestamps(source, strategy)
    # The strategy decides in the decoding thread (a planned source yields only the wanted frames already).
    with source, decoded_ahead(source, keep=None if planned else per_video.wants) as frames:
        import cv2  # here, while the decoding thread runs (module docstring)

        from vision_assets.core.video.phash import NearDuplicateIndex, perceptual_hash

        seen = NearDuplicateIndex()
        encode_params = [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)]
        for frame in frames:
            phash = perceptual_hash(frame.luma)  # the Y plane: no colour conversion for a frame we may drop
            if seen.near(phash, near_duplicate_distance):
                result.near_duplicates_dropped += 1
                continue
            seen.add(phash)
            kept = _encode(frame, phash, transform, encode_params)
            if on_frame:
                on_frame(kept)
            result.frames.append(kept if keep_jpeg else dataclasses.replace(kept, jpeg=b""))
    result.outcome, result.reason = source.verdict()
    claims = source.claims
    result.codec, result.fps_header, result.frames_claimed = claims.codec, claims.fps_header, claims.frames_claimed
    # Skipping decodes only some frames; the frames the file holds are then counted from its packets.
    result.frames_decoded = source.frames_present if planned else source.frames_decoded
    result.fps, result.duration_s = source.fps, source.duration_s
    result.rotation = source.rotation
    return result


class _FrameTime:
    """What a timestamp-deciding strategy reads of a frame, known from the demuxed packets before decoding."""

    __slots__ = ("index", "timestamp")

    def __init__(self, index: int, timestamp: float):
        self.index, self.timestamp = index, timestamp


def _plan_on_timestamps(source: VideoSource, strategy: SamplingStrategy) -> bool:
    """Let `source` skip the non-reference frames the strategy does not keep, deciding on the packets' timestamps
    exactly as it would on the decoded frames' (same index, same seconds from the first frame). False where the
    strategy needs pixels or the stream cannot skip exactly (VideoSource.display_timeline)."""
    if not strategy.decides_on_timestamps:
        return False
    timeline = source.display_timeline()
    if timeline is None:
        return False
    planner, time_base = strategy.for_video(), source.time_base
    start = pts_seconds(timeline[0], time_base)
    wanted = {pts for index, pts in enumerate(timeline)
              if planner.wants(_FrameTime(index, pts_seconds(pts, time_base) - start))}
    source.skip_all_but(timeline, wanted)
    return True


def _encode(frame: DecodedFrame, phash: int, transform: Transform | None, params: list[int]) -> KeptFrame:
    import cv2

    image, info = frame.bgr, {}
    if transform is not None:
        image, info = transform(image)
    ok, buffer = cv2.imencode(".jpg", image, params)
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for frame {frame.index}")
    jpeg = buffer.tobytes()
    return KeptFrame(index=frame.index, timestamp=round(frame.timestamp, 6), jpeg=jpeg, width=image.shape[1],
                     height=image.shape[0], sha256=hashlib.sha256(jpeg).hexdigest(), phash=phash,
                     transform=dict(info or {}))


def sample_file_report(path: Path, strategy_name: str, params: dict | None = None,
                       out_dir: Path | None = None) -> dict:
    """One JSON-serialisable report for the `vision-assets sample` command; with out_dir, the kept frames are
    written there as frame_<index>.jpg. Raises StrategyError for an unknown strategy or bad parameter; a
    broken video is a report with outcome "quarantined" or "truncated"."""
    strategy = get_strategy(strategy_name, **(params or {}))
    paths: dict[int, str] = {}

    def write(kept: KeptFrame) -> None:
        target = Path(out_dir) / f"frame_{kept.index:06d}.jpg"
        target.write_bytes(kept.jpeg)
        paths[kept.index] = str(target)

    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    result = sample_video_file(Path(path), strategy, on_frame=write if out_dir is not None else None,
                               keep_jpeg=False)
    frames = [{"index": kept.index, "timestamp": kept.timestamp, "width": kept.width, "height": kept.height,
               "sha256": kept.sha256, "phash": kept.phash_hex, **({"path": paths[kept.index]} if paths else {})}
              for kept in result.frames]
    return {
        "path": result.path, "outcome": result.outcome, "reason": result.reason, "codec": result.codec,
        "frames_claimed": result.frames_claimed, "frames_decoded": result.frames_decoded,
        "fps": round(result.fps, 6), "fps_header": round(result.fps_header, 6),
        "duration_s": round(result.duration_s, 6), "rotation": result.rotation,
        "strategy": result.strategy, "params": result.params,
        "kept": len(frames), "near_duplicates_dropped": result.near_duplicates_dropped, "frames": frames,
    }
