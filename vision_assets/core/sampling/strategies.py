"""Frame sampling strategies as plugins; the sampler (sampler.py) applies one to a video file.

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

from typing import TYPE_CHECKING, ClassVar

from vision_assets.core.errors import VisionError
from vision_assets.core.video import DecodedFrame

if TYPE_CHECKING:  # OpenCV and numpy load when a strategy first compares pixels (core/video/decode.py says why)
    import numpy as np

DECODE_MODES = ("all", "keyframes")


class StrategyError(VisionError, ValueError):
    """An unknown strategy name or a bad parameter; the message lists what is accepted."""


class SamplingStrategy:
    """Base class: subclasses set `name`, `defaults` (parameter -> default, whose type parameters are coerced
    to) and optionally `decode = "keyframes"`, and implement `wants`. Per-video state lives on the instance;
    the sampler works on a fresh copy per video (`for_video`), so one configured strategy serves many videos
    in parallel."""

    name: ClassVar[str] = ""
    decode: ClassVar[str] = "all"
    defaults: ClassVar[dict[str, object]] = {}
    # True when wants() reads nothing but frame.index and frame.timestamp: the sampler may then decide on the
    # demuxed timestamps before decoding and let the decoder skip the non-reference frames nobody keeps. A subclass
    # whose wants() reads pixels or the keyframe flag must set it back to False.
    decides_on_timestamps: ClassVar[bool] = False

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
    decides_on_timestamps = True

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
    import cv2

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
        import cv2

        return float((cv2.absdiff(thumbnail, previous) > MOTION_PIXEL_DELTA).mean()) > self.params["threshold"]


@register_strategy
class Keyframes(SamplingStrategy):
    """Only the keyframes; the decoder skips every other frame, so this costs little more than demuxing."""

    name = "keyframes"
    decode = "keyframes"

    def wants(self, frame: DecodedFrame) -> bool:
        return frame.keyframe
