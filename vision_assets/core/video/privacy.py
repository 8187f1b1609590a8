"""Optional face and licence-plate blurring of a frame before it is stored.

Detection uses OpenCV's Haar cascades. OpenCV 5 moved CascadeClassifier to opencv-contrib and its 5.0 wheels
ship an empty cv2/data, so where no detector can be built, asking for blurring fails at construction:
silently storing unblurred frames would be the worst outcome.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import cv2
import numpy as np

from vision_assets.core.errors import VisionError

Box = tuple[int, int, int, int]  # x, y, width, height in pixels

FRONTAL_FACE = "haarcascade_frontalface_default.xml"
PROFILE_FACE = "haarcascade_profileface.xml"
PLATE = "haarcascade_russian_plate_number.xml"
# Averaging a region down to this many cells across keeps its colour but leaves nothing to recognise or
# deblur: unlike a Gaussian blur, the discarded detail is gone from the pixels, not just attenuated.
BLUR_CELLS = 6


class PrivacyUnavailableError(VisionError, RuntimeError):
    """Blurring was asked for but this OpenCV build cannot detect what to blur."""


def _cascade_class():
    return getattr(cv2, "CascadeClassifier", None) or getattr(getattr(cv2, "xobjdetect", None),
                                                               "CascadeClassifier", None)


def default_cascade_dir() -> Path | None:
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    return Path(folder) if folder else None


def missing_detector_reason(names: tuple[str, ...], cascade_dir: Path | None = None) -> str:
    """Why the named cascades cannot be used here, or "" when they can."""
    if _cascade_class() is None:
        return (f"OpenCV {cv2.__version__} has no CascadeClassifier (OpenCV 5 moved it to opencv-contrib); "
                "install an OpenCV build that has it, e.g. opencv-python<5")
    folder = cascade_dir or default_cascade_dir()
    missing = [name for name in names if folder is None or not (folder / name).is_file()]
    if missing:
        return f"cascade files {missing} not found in {folder} (OpenCV 5.0 wheels ship none; set cascade_dir)"
    return ""


def blur_regions(bgr: np.ndarray, boxes: list[Box] | tuple[Box, ...], cells: int = BLUR_CELLS) -> np.ndarray:
    """A copy of the image with every box averaged down to a few cells and smoothly scaled back up."""
    out = bgr.copy()
    height, width = bgr.shape[:2]
    for x, y, w, h in boxes:
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 <= x0 or y1 <= y0:
            continue
        region = out[y0:y1, x0:x1]
        shrink = cells / max(x1 - x0, y1 - y0)
        small = cv2.resize(region, (max(1, round((x1 - x0) * shrink)), max(1, round((y1 - y0) * shrink))),
                           interpolation=cv2.INTER_AREA)
        out[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return out


def pad_box(box: Box, padding: float, width: int, height: int) -> Box:
    """Grown by `padding` of its size on every side (hair, ears, plate frame), clipped to the image."""
    x, y, w, h = box
    dx, dy = round(w * padding), round(h * padding)
    x0, y0 = max(0, x - dx), max(0, y - dy)
    return x0, y0, min(width, x + w + dx) - x0, min(height, y + h + dy) - y0


class Blurrer:
    """`blurrer(bgr) -> (bgr, info)`: the frame transform the frame sampler applies before storing a frame.

    Cascades are loaded once per thread: a CascadeClassifier must not be shared between threads.
    """

    def __init__(self, faces: bool = False, plates: bool = False, *, profiles: bool = True,
                 scale_factor: float = 1.1, min_neighbours: int = 5, min_size_share: float = 0.02,
                 padding: float = 0.2, detect_max_side: int = 960, cascade_dir: Path | None = None):
        self.faces, self.plates, self.profiles = faces, plates, profiles
        self.scale_factor, self.min_neighbours = scale_factor, min_neighbours
        self.min_size_share, self.padding, self.detect_max_side = min_size_share, padding, detect_max_side
        self.cascade_dir = Path(cascade_dir) if cascade_dir else default_cascade_dir()
        self._local = threading.local()
        if self.enabled:
            reason = missing_detector_reason(self._cascade_names(), self.cascade_dir)
            if reason:
                raise PrivacyUnavailableError(f"cannot blur {self._what()}: {reason}")
            self._cascades()  # a corrupt cascade file fails here, not on the first frame

    @property
    def enabled(self) -> bool:
        return self.faces or self.plates

    def _what(self) -> str:
        return " and ".join(kind for kind, on in (("faces", self.faces), ("plates", self.plates)) if on)

    def _cascade_names(self) -> tuple[str, ...]:
        faces = (FRONTAL_FACE, PROFILE_FACE) if self.profiles else (FRONTAL_FACE,)
        return (faces if self.faces else ()) + ((PLATE,) if self.plates else ())

    def _cascades(self) -> dict[str, object]:
        loaded = getattr(self._local, "cascades", None)
        if loaded is None:
            loaded = {}
            for name in self._cascade_names():
                cascade = _cascade_class()(str(self.cascade_dir / name))
                if cascade.empty():
                    raise PrivacyUnavailableError(f"{self.cascade_dir / name}: not a loadable cascade")
                loaded[name] = cascade
            self._local.cascades = loaded
        return loaded

    def detect(self, bgr: np.ndarray) -> dict[str, list[Box]]:
        """Unpadded boxes in full-image pixels, found on a downscaled, contrast-equalised grayscale copy."""
        height, width = bgr.shape[:2]
        scale = min(1.0, self.detect_max_side / max(height, width))
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
        if scale < 1.0:
            gray = cv2.resize(gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        cascades = self._cascades()
        found: dict[str, list[Box]] = {"faces": [], "plates": []}
        if self.faces:
            found["faces"] += self._run(cascades[FRONTAL_FACE], gray)
            if self.profiles:
                # The profile cascade only knows one side of the head; the mirrored image shows it the other.
                found["faces"] += self._run(cascades[PROFILE_FACE], gray)
                mirrored = self._run(cascades[PROFILE_FACE], cv2.flip(gray, 1))
                found["faces"] += [(gray.shape[1] - x - w, y, w, h) for x, y, w, h in mirrored]
        if self.plates:
            found["plates"] += self._run(cascades[PLATE], gray)
        return {kind: _merged([_scaled(box, scale) for box in boxes]) for kind, boxes in found.items()}

    def _run(self, cascade, gray: np.ndarray) -> list[Box]:
        side = max(1, round(self.min_size_share * min(gray.shape[:2])))
        boxes = cascade.detectMultiScale(gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbours,
                                         minSize=(side, side))
        return [tuple(int(v) for v in box) for box in boxes]

    def __call__(self, bgr: np.ndarray) -> tuple[np.ndarray, dict]:
        if not self.enabled:
            return bgr, {"blurred": False, "blur_regions": 0, "faces": 0, "plates": 0}
        found = self.detect(bgr)
        height, width = bgr.shape[:2]
        boxes = [pad_box(box, self.padding, width, height) for kind in ("faces", "plates") for box in found[kind]]
        info = {"blurred": bool(boxes), "blur_regions": len(boxes), "faces": len(found["faces"]),
                "plates": len(found["plates"])}
        return (blur_regions(bgr, boxes) if boxes else bgr), info


def _scaled(box: Box, scale: float) -> Box:
    """Back to full resolution, rounded outwards so the box never shrinks."""
    x, y, w, h = box
    x0, y0 = int(np.floor(x / scale)), int(np.floor(y / scale))
    return x0, y0, int(np.ceil((x + w) / scale)) - x0, int(np.ceil((y + h) / scale)) - y0


def _merged(boxes: list[Box]) -> list[Box]:
    """Boxes that mostly overlap (one face seen by the frontal and a profile cascade) become their union."""
    boxes = list(boxes)
    merged = True
    while merged:
        merged = False
        for i, j in itertools.combinations(range(len(boxes)), 2):
            (ax, ay, aw, ah), (bx, by, bw, bh) = boxes[i], boxes[j]
            overlap = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))
            if overlap >= 0.5 * min(aw * ah, bw * bh):
                x0, y0 = min(ax, bx), min(ay, by)
                boxes[i] = (x0, y0, max(ax + aw, bx + bw) - x0, max(ay + ah, by + bh) - y0)
                del boxes[j]
                merged = True
                break
    return boxes
