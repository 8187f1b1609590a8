"""Probing and frame sampling with OpenCV, trusting what decodes rather than what the container claims."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".ts"})
# A container may round its frame count; more than this share missing means the file was cut short.
TRUNCATION_TOLERANCE = 0.02


@dataclass(frozen=True)
class Probe:
    outcome: str  # ok | truncated | quarantined
    reason: str
    codec: str
    width: int
    height: int
    fps: float
    frames_claimed: int
    frames_decoded: int
    duration_s: float

    def as_dict(self) -> dict:
        return asdict(self)


def _fourcc(capture: cv2.VideoCapture) -> str:
    code = int(capture.get(cv2.CAP_PROP_FOURCC))
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text.strip("\x00").strip() or "unknown"


def probe_video(path: Path) -> Probe:
    """Decode every frame once: the decoded count is the truth, the header's count only a claim."""
    empty = dict(codec="unknown", width=0, height=0, fps=0.0, frames_claimed=0, frames_decoded=0, duration_s=0.0)
    if not path.exists():
        return Probe(outcome="quarantined", reason=f"{path}: file does not exist", **empty)
    if path.stat().st_size == 0:
        return Probe(outcome="quarantined", reason=f"{path.name}: file is empty (0 bytes)", **empty)
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return Probe(outcome="quarantined", reason=f"{path.name}: no decoder could open the container", **empty)
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        claimed = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0)
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        codec = _fourcc(capture)
        decoded, last_ms = 0, 0.0
        while capture.grab():
            decoded += 1
            last_ms = capture.get(cv2.CAP_PROP_POS_MSEC)
    finally:
        capture.release()
    frame_s = 1.0 / fps if fps > 0 else 0.0
    duration = last_ms / 1000.0 + frame_s if decoded else 0.0
    probe = dict(codec=codec, width=width, height=height, fps=fps, frames_claimed=claimed,
                 frames_decoded=decoded, duration_s=round(duration, 6))
    if decoded == 0:
        return Probe(outcome="quarantined", reason=f"{path.name}: container opens but no frame decodes", **probe)
    if claimed and decoded < claimed * (1 - TRUNCATION_TOLERANCE):
        reason = f"{path.name}: only {decoded} of {claimed} claimed frames decode (file cut short)"
        return Probe(outcome="truncated", reason=reason, **probe)
    return Probe(outcome="ok", reason="", **probe)


def read_sidecar(video_path: Path) -> dict:
    sidecar = video_path.with_suffix(".json")
    if not sidecar.exists():
        return {}
    try:
        payload = json.loads(sidecar.read_text())
    except (OSError, ValueError) as error:
        return {"sidecar_error": f"{sidecar.name}: {error}"}
    return payload if isinstance(payload, dict) else {"sidecar_error": f"{sidecar.name}: not a JSON object"}


@dataclass(frozen=True)
class SampledFrame:
    frame_index: int
    timestamp_s: float
    jpeg: bytes
    width: int
    height: int


def sample_every(path: Path, every_seconds: float, *, jpeg_quality: int = 90,
                 on_frame: Callable[[SampledFrame], None] | None = None) -> list[SampledFrame]:
    """Fixed-interval sampling by decoded timestamps, so a wrong fps header does not shift samples.

    Frames that are not kept are only grabbed, never converted or encoded.
    """
    capture = cv2.VideoCapture(str(path))
    kept: list[SampledFrame] = []
    if not capture.isOpened():
        return kept
    next_due, index = 0.0, -1
    params = [int(cv2.IMWRITE_JPEG_QUALITY), jpeg_quality]
    try:
        while capture.grab():
            index += 1
            timestamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if timestamp + 1e-6 < next_due:
                continue
            ok, image = capture.retrieve()
            if not ok:
                continue
            encoded_ok, buffer = cv2.imencode(".jpg", image, params)
            if not encoded_ok:
                continue
            frame = SampledFrame(index, round(timestamp, 6), buffer.tobytes(), image.shape[1], image.shape[0])
            kept.append(frame)
            if on_frame:
                on_frame(frame)
            next_due = max(next_due + every_seconds, timestamp + every_seconds * 0.5)
    finally:
        capture.release()
    return kept

