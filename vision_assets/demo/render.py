"""Frames of a planned video: lit backdrop, sprites, night lamps and headlight beams, rain, sensor noise; and the mp4."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from vision_assets.demo.plan import VideoPlan
from vision_assets.demo.scene import Backdrop
from vision_assets.demo.simulate import Track, clip_box
from vision_assets.demo.spec import DemoSpec, seeded_rng


def render_frames(video: VideoPlan, backdrop: Backdrop, spec: DemoSpec) -> Iterator[np.ndarray]:
    """The video's BGR uint8 frames, one at a time, so a long video never sits in memory whole."""
    rng = seeded_rng(spec.seed, video.stem, "pixels")
    gain, offset, sigma = _lighting(video, backdrop, rng)
    # At night the camera's own illuminator lights the nearby traffic more than the far background, which keeps
    # objects about as learnable as by day.
    object_gain = np.minimum(gain * 1.6, 1.0) if video.night else gain
    base = backdrop.image.astype(np.float32) * gain + offset
    if video.night:
        base[backdrop.windows] = (90, 190, 235)  # lit windows glow whatever the ambient light
    beams = {t.track_id: _beam(t) for t in video.tracks if video.night and t.cls == "car"}
    order = sorted(video.tracks, key=lambda t: t.z)
    noise = np.empty((spec.height, spec.width, 3), np.float32)
    for frame in range(spec.n_frames):
        img = base.copy()
        on_screen = [t for t in order if t.start <= frame and clip_box(t.raw_box(frame), spec.width, spec.height)]
        for t in on_screen:
            # Objects share the ambient light of the spot they are in, so light each sprite by the gain under it.
            _paste(img, t.sprite.colour, t.sprite.mask, t.left(frame), t.top, object_gain, offset)
        if video.night:
            for t in on_screen:
                _shine(img, t, frame, beams.get(t.track_id))
        if video.weather == "rain":
            _rain(img, rng, video.night)
        rng.standard_normal(out=noise, dtype=np.float32)
        noise *= sigma
        img += noise
        np.clip(img, 0, 255, out=img)
        yield img.astype(np.uint8)


def _lighting(video: VideoPlan, backdrop: Backdrop, rng: np.random.Generator):
    """Per-pixel gain and offset that turn the daylight backdrop into this video's look, and the noise sigma."""
    h, w = backdrop.lamp_light.shape
    if video.night:
        # Dark and bluish, with warm pools of light under the street lamps.
        base = np.array([0.42, 0.33, 0.27], np.float32) * rng.uniform(0.85, 1.1)
        warm = np.array([0.35, 0.5, 0.6], np.float32)
        gain = base + backdrop.lamp_light[:, :, None] * warm
        offset, sigma = np.zeros(3, np.float32), 6.0
    else:
        gain = np.broadcast_to(np.array([1.0, 1.0, 1.0], np.float32) * rng.uniform(0.88, 1.1), (h, w, 3))
        gain = gain * np.array([1.0, 1.0, rng.uniform(0.97, 1.05)], np.float32)  # slight warm/cool white balance
        offset, sigma = np.zeros(3, np.float32), 3.0
    if video.weather == "fog":
        haze = 45.0 if video.night else 175.0
        gain = gain * 0.7
        offset = offset + 0.3 * haze
    elif video.weather == "rain":
        gain = gain * 0.85
    return np.ascontiguousarray(gain, np.float32), offset, sigma


def _paste(dst: np.ndarray, colour: np.ndarray, mask: np.ndarray, x: int, y: int,
           gain: np.ndarray | None = None, offset: np.ndarray | None = None) -> None:
    """Copy the masked sprite pixels into dst at (x, y), clipped to dst, optionally lit as gain * colour + offset."""
    h, w = mask.shape
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, dst.shape[1]), min(y + h, dst.shape[0])
    if x1 >= x2 or y1 >= y2:
        return
    src = np.s_[y1 - y:y2 - y, x1 - x:x2 - x]
    m = mask[src]
    pixels = colour[src][m]
    if gain is not None:
        pixels = pixels * gain[y1:y2, x1:x2][m] + offset
    dst[y1:y2, x1:x2][m] = pixels


def _beam(track: Track) -> np.ndarray:
    w, h = track.sprite.size
    bw, bh = int(w * 1.2), max(6, h // 2)
    yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
    fall = np.exp(-xx / (bw * 0.45)) if track.vx > 0 else np.exp(-(bw - 1 - xx) / (bw * 0.45))
    return (55 * fall * np.exp(-((yy - bh / 2) ** 2) / (2 * (bh / 4) ** 2)))[:, :, None]


def _shine(img: np.ndarray, track: Track, frame: int, beam: np.ndarray | None) -> None:
    """Lamps glow whatever the ambient light; car headlights also throw a beam on the road ahead."""
    x, y = track.left(frame), track.top
    w, h = track.sprite.size
    for value, colour in ((1, (235, 250, 255)), (2, (40, 40, 235))):
        m = track.sprite.lights == value
        if m.any():
            _paste(img, np.broadcast_to(np.array(colour, np.float32), (h, w, 3)), m, x, y)
    if beam is None:
        return
    bh, bw = beam.shape[:2]
    bx = x + w if track.vx > 0 else x - bw
    by = y + h // 3
    x1, y1, x2, y2 = max(bx, 0), max(by, 0), min(bx + bw, img.shape[1]), min(by + bh, img.shape[0])
    if x1 < x2 and y1 < y2:
        img[y1:y2, x1:x2] += beam[y1 - by:y2 - by, x1 - bx:x2 - bx]


def _rain(img: np.ndarray, rng: np.random.Generator, night: bool) -> None:
    h, w = img.shape[:2]
    colour = (80.0, 80.0, 90.0) if night else (200.0, 200.0, 205.0)
    for x, y, length in zip(rng.integers(0, w, 60), rng.integers(0, h, 60), rng.integers(4, 8, 60)):
        cv2.line(img, (int(x), int(y)), (int(x) - 2, int(y) + int(length)), colour, 1)


def write_video(path: Path, frames: Iterator[np.ndarray], spec: DemoSpec) -> bool:
    # cv2 picks the container from the extension, so the temp name must end in .mp4; the leading dot hides it.
    tmp = path.with_name(f".{path.stem}.partial.mp4")
    try:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), spec.fps, (spec.width, spec.height))
        if not writer.isOpened():
            raise RuntimeError(f"cv2 cannot write mp4v video to {tmp}")
        try:
            for frame in frames:
                writer.write(frame)
        finally:
            writer.release()
        # mp4v output is byte-stable for identical frames, so a byte compare is a content compare.
        if path.exists() and path.read_bytes() == tmp.read_bytes():
            return False
        os.replace(tmp, path)
        return True
    finally:
        tmp.unlink(missing_ok=True)
