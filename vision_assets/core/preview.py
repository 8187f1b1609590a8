"""Pictures for people: contact sheets, boxes drawn on frames, and thumbnails small enough to inline in a page.

A report page that inlines a 125 KB image per event is slow to open, so pages get a thumbnail under a byte budget
and the full-size picture lives in the lake.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

THUMBNAIL_BYTES = 30_000
BOX_COLOURS = ((0, 200, 0), (0, 140, 255), (255, 80, 0), (200, 0, 200), (0, 200, 200))  # BGR


def decode_jpeg(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable image")
    return image


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("image could not be encoded as JPEG")
    return buffer.tobytes()


def _fit(image: np.ndarray, width: int) -> np.ndarray:
    scale = width / image.shape[1]
    return cv2.resize(image, (width, max(1, round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)


def _caption(image: np.ndarray, text: str) -> np.ndarray:
    band = np.zeros((16, image.shape[1], 3), dtype=np.uint8)
    cv2.putText(band, text[:40], (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([image, band])


def contact_sheet(images: Sequence[np.ndarray], captions: Sequence[str], *, columns: int = 6,
                  cell_width: int = 240) -> np.ndarray:
    """The images in a grid, each scaled to cell_width with its caption below (all cells the first one's height)."""
    if not images:
        raise ValueError("a contact sheet needs at least one image")
    cells = [_caption(_fit(image, cell_width), caption) for image, caption in zip(images, captions)]
    height = cells[0].shape[0]
    cells = [cv2.resize(c, (cell_width, height)) if c.shape[0] != height else c for c in cells]
    blank = np.zeros_like(cells[0])
    rows = []
    for start in range(0, len(cells), columns):
        row = cells[start:start + columns]
        rows.append(np.hstack(row + [blank] * (columns - len(row))))
    return np.vstack(rows) if len(rows) > 1 else rows[0][:, :cell_width * len(cells)]


def draw_boxes(image: np.ndarray, boxes: Sequence[tuple[float, float, float, float, str]]) -> np.ndarray:
    """A copy of the image with each (x1, y1, x2, y2, text) box drawn in pixels, one colour per class (the text's
    first word)."""
    out = image.copy()
    colours: dict[str, tuple[int, int, int]] = {}
    for x1, y1, x2, y2, text in boxes:
        colour = colours.setdefault(text.split(" ")[0], BOX_COLOURS[len(colours) % len(BOX_COLOURS)])
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(out, p1, p2, colour, 1, cv2.LINE_AA)
        cv2.putText(out, text, (p1[0], max(8, p1[1] - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.3, colour, 1, cv2.LINE_AA)
    return out


def thumbnail(image: np.ndarray, *, max_width: int = 720, max_bytes: int = THUMBNAIL_BYTES) -> bytes:
    """A JPEG of the image no wider than max_width and no larger than max_bytes (smaller and softer until it fits)."""
    width = min(max_width, image.shape[1])
    while True:
        small = _fit(image, width) if width != image.shape[1] else image
        for quality in (80, 65, 50):
            data = encode_jpeg(small, quality)
            if len(data) <= max_bytes:
                return data
        if width <= 64:
            return data
        width = int(width * 0.75)


def evenly_spaced(count: int, at_most: int) -> list[int]:
    """Up to at_most indices spread over range(count), first and last included."""
    if count <= at_most:
        return list(range(count))
    return sorted({round(i * (count - 1) / (at_most - 1)) for i in range(at_most)})


def frames_contact_sheet(read_bytes, frames, video_names: dict[str, str], *, at_most: int = 24) -> tuple[bytes, int]:
    """A full-size JPEG contact sheet of up to at_most of the frames (rows with image_path, video_sha256,
    timestamp_s), spread over the table's order, each captioned with its video's file name and time.
    read_bytes(key) returns a frame's JPEG. Returns (jpeg, frames shown)."""
    picked = frames.iloc[evenly_spaced(len(frames), at_most)]
    images = [decode_jpeg(read_bytes(key)) for key in picked["image_path"]]
    captions = [f"{video_names.get(v, v[:12])} {t:.1f}s" for v, t in zip(picked["video_sha256"], picked["timestamp_s"])]
    return encode_jpeg(contact_sheet(images, captions), 85), len(images)


def remember_preview(lake, scene: str, day: str, key: str) -> None:
    """Record that the preview blob `key` shows frames of this partition, so forgetting one of its videos can find
    and remove it (the blob itself is content-addressed and says nothing of where it came from)."""
    from vision_assets.core.lake import keys

    record = keys.preview_record_key(scene, day)
    known = lake.read_json(record).get("keys", []) if lake.exists(record) else []
    if key not in known:
        lake.write_json(record, {"keys": sorted({*known, key})})
