"""Probing: one full decode of a video that says what the file really is, and the sidecar that travels with it.

The probe's figures come from decoding (see decode), so a file whose header lies is caught when it is probed;
its signature lets later copies of the same footage be recognised whatever their codec or frame rate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from vision_assets.core.input_files import InputLimits, InputRefused, load_json_bounded
from vision_assets.core.video.decode import UnreadableVideo, VideoSource, describe_error
from vision_assets.core.video.phash import perceptual_hash, signature_to_hex

# A pHash every half second of decoded time; the signature keeps the ones nearest these shares of the duration.
SIGNATURE_STEP_S = 0.5
SIGNATURE_POINTS = (0.1, 0.3, 0.5, 0.7, 0.9)


@dataclass(frozen=True)
class Probe:
    outcome: str  # ok | truncated | quarantined
    reason: str
    codec: str
    width: int
    height: int
    fps: float  # trusted: from decoded timestamps where the header disagrees
    frames_claimed: int
    frames_decoded: int
    duration_s: float
    fps_header: float = 0.0
    keyframes: int = 0
    signature: str = ""  # near-duplicate signature: hex pHashes at 10/30/50/70/90 % of the real duration
    rotation: int = 0  # display-matrix degrees counter-clockwise; width and height are the upright picture's

    def as_dict(self) -> dict:
        return asdict(self)


_NOTHING = dict(codec="unknown", width=0, height=0, fps=0.0, frames_claimed=0, frames_decoded=0, duration_s=0.0)


def probe_video(path: Path) -> Probe:
    """Decode every frame once; never raises for a broken file (its problem is the Probe's reason)."""
    path = Path(path)
    try:
        with VideoSource(path) as source:
            marks: list[tuple[float, int]] = []
            for frame in source.frames():
                if not marks or frame.timestamp >= marks[-1][0] + SIGNATURE_STEP_S:
                    marks.append((frame.timestamp, perceptual_hash(frame.luma)))
            outcome, reason = source.verdict()
            claims = source.claims
            turned = source.rotation in (90, 270)
            return Probe(
                outcome=outcome, reason=reason, codec=claims.codec, rotation=source.rotation,
                width=claims.height if turned else claims.width, height=claims.width if turned else claims.height,
                fps=round(source.fps, 6), frames_claimed=claims.frames_claimed,
                frames_decoded=source.frames_decoded, duration_s=round(source.duration_s, 6),
                fps_header=round(claims.fps_header, 6), keyframes=source.keyframes,
                signature=signature_to_hex(_signature_points(marks, source.duration_s)))
    except UnreadableVideo as error:
        return Probe(outcome="quarantined", reason=str(error), **_NOTHING)
    except Exception as error:  # any other failure is still this file's problem, not the caller's
        return Probe(outcome="quarantined", reason=f"{path.name}: probing failed ({describe_error(error)})", **_NOTHING)


def _signature_points(marks: list[tuple[float, int]], duration_s: float) -> list[int]:
    """The hashes taken nearest to fixed shares of the real duration, so two copies of the same footage
    (whatever their frame rate or container) are compared at the same moments."""
    if not marks:
        return []
    return [min(marks, key=lambda mark: abs(mark[0] - share * duration_s))[1] for share in SIGNATURE_POINTS]


def read_sidecar(video_path: Path) -> dict:
    """The JSON object in ``<video>.json`` beside the video, {} without one; a broken sidecar does not raise but
    comes back as {"sidecar_error": reason}, so the caller can refuse that one file with the reason. Read as the
    landing scan reads it: a regular file within the size and depth limits (a FIFO or a deep nest is refused).
    Ingest itself takes the sidecar the scan validated (core/ingest/sidecar.py)."""
    sidecar = video_path.with_suffix(".json")
    if not sidecar.exists() and not sidecar.is_symlink():
        return {}
    limits = InputLimits.from_env()
    if sidecar.is_symlink():
        return {"sidecar_error": f"{sidecar.name}: is a symbolic link (sidecars are read only where they lie)"}
    try:
        payload = load_json_bounded(sidecar, limits.max_label_bytes, limits.max_json_depth)
    except InputRefused as error:
        return {"sidecar_error": f"{sidecar.name}: {str(error).removeprefix(f'{sidecar}: ')}"}
    return payload if isinstance(payload, dict) else {"sidecar_error": f"{sidecar.name}: not a JSON object"}
