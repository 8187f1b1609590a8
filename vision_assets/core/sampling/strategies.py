"""Frame sampling strategies as plugins, and the sampler that turns a video into kept JPEG frames.

A strategy is a class with a `name`, a `decode` mode and parameters, deciding frame by frame whether to keep
it. Register one with @register_strategy in any module and it is usable by name everywhere (CLI, Dagster
config) without touching this file:

    @register_strategy
    class EveryNth(SamplingStrategy):
        name = "every_nth"
        defaults = {"n": 10}

        def wants(self, frame):
            return frame.index % self.params["n"] == 0
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from vision_assets.core.video import (
    DecodedFrame,
    NearDuplicateIndex,
    UnreadableVideo,
    VideoSource,
    decoded_ahead,
    hash_to_hex,
    perceptual_hash,
)

DECODE_MODES = ("all", "keyframes")


class StrategyError(ValueError):
    """An unknown strategy name or a bad parameter; the message lists what is accepted."""


class SamplingStrategy:
    """Base class: subclasses set `name`, `defaults` (parameter -> default, whose type parameters are coerced
    to) and optionally `decode = "keyframes"`, and implement `wants`. Per-video state lives on the instance;
    the sampler works on a fresh copy per video (`for_video`), so one configured strategy serves many videos
    in parallel."""

    name: ClassVar[str] = ""
    decode: ClassVar[str] = "all"
    defaults: ClassVar[dict[str, object]] = {}

    def __init__(self, **params: object):
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise StrategyError(f"strategy {self.name!r} has no parameter {', '.join(unknown)}; "
                                f"accepted: {_describe_params(self.defaults)}")
        self.params: dict[str, object] = {}
        for key, default in self.defaults.items():
            value = params.get(key, default)
            try:
                self.params[key] = type(default)(value) if default is not None else value
            except (TypeError, ValueError) as error:
                raise StrategyError(f"strategy {self.name!r}: {key}={value!r} is not a valid "
                                    f"{type(default).__name__}") from error
        self.prepare()

    def prepare(self) -> None:
        """Validate self.params (raise StrategyError) and set the per-video state; runs on every new copy."""

    def for_video(self) -> SamplingStrategy:
        return type(self)(**self.params)

    def wants(self, frame: DecodedFrame) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"


def _describe_params(defaults: dict[str, object]) -> str:
    return ", ".join(f"{key} (default {value!r})" for key, value in defaults.items()) or "none"


STRATEGIES: dict[str, type[SamplingStrategy]] = {}


def register_strategy(cls: type[SamplingStrategy]) -> type[SamplingStrategy]:
    if not cls.name or cls.decode not in DECODE_MODES:
        raise StrategyError(f"{cls.__name__}: a strategy needs a name and a decode mode in {DECODE_MODES}")
    STRATEGIES[cls.name] = cls
    return cls


def get_strategy(name: str, **params: object) -> SamplingStrategy:
    if name not in STRATEGIES:
        raise StrategyError(f"unknown sampling strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name](**params)


def _positive(strategy: SamplingStrategy, *keys: str, allow_zero: bool = False) -> None:
    for key in keys:
        value = strategy.params[key]
        if value < 0 or (value == 0 and not allow_zero):
            raise StrategyError(f"strategy {strategy.name!r}: {key} must be {'>= 0' if allow_zero else '> 0'}, "
                                f"got {value!r}")


# Timestamps are floats from rational time bases; a frame due at 1.0 s may carry 0.9999999.
_EPSILON_S = 1e-6


@register_strategy
class FixedInterval(SamplingStrategy):
    """One frame every `every_seconds` of decoded timestamp, so a wrong header frame rate shifts nothing."""

    name = "fixed_interval"
    defaults = {"every_seconds": 0.5}

    def prepare(self) -> None:
        _positive(self, "every_seconds")
        self._due = 0.0

    def wants(self, frame: DecodedFrame) -> bool:
        if frame.timestamp + _EPSILON_S < self._due:
            return False
        every = self.params["every_seconds"]
        # Stay on the grid (0, 0.5, 1.0 ...) but re-anchor after a gap in the timestamps.
        self._due = max(self._due + every, frame.timestamp + every / 2)
        return True


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.absdiff(a, b).mean())


class _ComparesFrames(SamplingStrategy):
    """Shared by strategies that compare each frame's thumbnail with the previous one and keep at most one frame
    per `min_gap_seconds`; subclasses say when a difference counts (`differs`)."""

    def prepare(self) -> None:
        _positive(self, "threshold")
        _positive(self, "min_gap_seconds", allow_zero=True)
        self._previous: np.ndarray | None = None
        self._last_kept = float("-inf")

    def differs(self, thumbnail: np.ndarray, previous: np.ndarray | None) -> bool:
        raise NotImplementedError

    def wants(self, frame: DecodedFrame) -> bool:
        thumbnail, previous = frame.thumbnail, self._previous
        self._previous = thumbnail
        if not self.differs(thumbnail, previous):
            return False
        if frame.timestamp - self._last_kept < self.params["min_gap_seconds"] - _EPSILON_S:
            return False
        self._last_kept = frame.timestamp
        return True


@register_strategy
class SceneChange(_ComparesFrames):
    """The first frame, and the first frame after each cut: a frame whose small grayscale thumbnail differs
    from the previous frame's by more than `threshold` grey levels on average (0-255)."""

    name = "scene_change"
    defaults = {"threshold": 30.0, "min_gap_seconds": 0.0}

    def differs(self, thumbnail: np.ndarray, previous: np.ndarray | None) -> bool:
        return previous is None or _mean_abs_diff(thumbnail, previous) > self.params["threshold"]


# A thumbnail pixel changing by more than this many grey levels is movement, not compression noise.
MOTION_PIXEL_DELTA = 16


@register_strategy
class Motion(_ComparesFrames):
    """Frames where more than `threshold` (a share, 0-1) of the thumbnail's pixels changed since the previous
    frame, at most one per `min_gap_seconds` so a long moving stretch does not keep every frame."""

    name = "motion"
    defaults = {"threshold": 0.01, "min_gap_seconds": 1.0}

    def differs(self, thumbnail: np.ndarray, previous: np.ndarray | None) -> bool:
        if previous is None:
            return False
        return float((cv2.absdiff(thumbnail, previous) > MOTION_PIXEL_DELTA).mean()) > self.params["threshold"]


@register_strategy
class Keyframes(SamplingStrategy):
    """Only the keyframes; the decoder skips every other frame, so this costs little more than demuxing."""

    name = "keyframes"
    decode = "keyframes"

    def wants(self, frame: DecodedFrame) -> bool:
        return frame.keyframe


# -- the sampler ----------------------------------------------------------------------------------------
Transform = Callable[[np.ndarray], tuple[np.ndarray, dict]]


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
    frames_decoded: int = 0
    duration_s: float = 0.0
    frames: list[KeptFrame] = field(default_factory=list)
    near_duplicates_dropped: int = 0


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
    seen = NearDuplicateIndex()
    encode_params = [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)]
    with source, decoded_ahead(source) as frames:
        for frame in frames:
            if not per_video.wants(frame):
                continue
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
    result.fps, result.frames_decoded, result.duration_s = source.fps, source.frames_decoded, source.duration_s
    return result


def _encode(frame: DecodedFrame, phash: int, transform: Transform | None, params: list[int]) -> KeptFrame:
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
        "duration_s": round(result.duration_s, 6), "strategy": result.strategy, "params": result.params,
        "kept": len(frames), "near_duplicates_dropped": result.near_duplicates_dropped, "frames": frames,
    }
