"""Width and height of an image file from its header, without decoding the pixels.

YOLO labels are normalised, so importing them needs every image's size; decoding thousands of frames just for that
would dominate the import. PNG, JPEG, GIF and BMP headers are parsed here; anything else is decoded with OpenCV.
"""

from __future__ import annotations

import struct
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")

# JPEG start-of-frame markers carry the size; C4 (huffman), C8 (reserved) and CC (arithmetic) do not.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height), or None when the file is not a readable image."""
    with open(path, "rb") as fh:
        head = fh.read(26)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", head[6:10])
        if head[:2] == b"BM" and len(head) >= 26:
            width, height = struct.unpack("<ii", head[18:26])
            return width, abs(height)  # a negative height means rows stored top-down
        if head[:2] == b"\xff\xd8":
            fh.seek(2)
            size = _jpeg_size(fh)
            if size:
                return size
    return _decoded_size(path)


def _jpeg_size(fh) -> tuple[int, int] | None:
    while True:
        byte = fh.read(1)
        while byte == b"\xff":  # fill bytes before a marker
            byte = fh.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue  # markers without a length
        length_bytes = fh.read(2)
        if len(length_bytes) < 2:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if marker in _SOF:
            data = fh.read(5)
            if len(data) < 5:
                return None
            height, width = struct.unpack(">HH", data[1:5])
            return width, height
        fh.seek(length - 2, 1)


def _decoded_size(path: Path) -> tuple[int, int] | None:
    import cv2  # only for formats without a parser here

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return None if img is None else (int(img.shape[1]), int(img.shape[0]))
