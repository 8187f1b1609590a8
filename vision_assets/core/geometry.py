"""Box geometry shared by the label formats, QC and evaluation: IoU and conversions between box conventions.

Boxes are corners (x1, y1, x2, y2) in pixels, top-left origin, unless a name says otherwise: xywh is a corner plus
width and height (COCO, MOT, Label Studio), yolo is the centre and size normalised to the image (cx cy w h).

The conversions take and return the four coordinates separately, so one call serves Python floats, numpy arrays and
pandas Series alike. Their float operations, and the order of them, are the ones the readers and writers have always
used: a file read or written through them is bit-for-bit what it was.
"""

from __future__ import annotations

import numpy as np


def area(x1, y1, x2, y2):
    """Area of corner boxes; a box with a negative width or height has none."""
    return np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)


def iou(a, b) -> np.ndarray:
    """Intersection over union of boxes `a` and `b`, each (x1, y1, x2, y2) of scalars or arrays, with broadcasting.

    Boxes with a negative width or height have no area (see `area`); where the union is empty the IoU is 0.
    """
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    ix = np.minimum(ax2, bx2) - np.maximum(ax1, bx1)
    iy = np.minimum(ay2, by2) - np.maximum(ay1, by1)
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    union = area(*a) + area(*b) - inter
    out = np.zeros(np.shape(union), dtype=np.float64)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def pairwise_iou(a, b) -> np.ndarray:
    """IoU of every box of `a` (N x 4 corners) with every box of `b` (M x 4): an N x M array."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return iou(tuple(a[:, k, None] for k in range(4)), tuple(b[None, :, k] for k in range(4)))


def xyxy_to_xywh(x1, y1, x2, y2):
    """Corners to (x, y, width, height)."""
    return x1, y1, x2 - x1, y2 - y1


def xywh_to_xyxy(x, y, w, h):
    """(x, y, width, height) to corners."""
    return x, y, x + w, y + h


def xyxy_to_yolo(x1, y1, x2, y2, width, height):
    """Pixel corners to YOLO's (cx, cy, w, h), normalised to an image of width x height."""
    return (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height


def yolo_to_xyxy(cx, cy, w, h, width, height):
    """YOLO's normalised (cx, cy, w, h) to pixel corners on an image of width x height."""
    return (cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height


def clip_box(x1, y1, x2, y2, width, height):
    """Corners clipped to the image [0, width] x [0, height]; a box wholly outside collapses onto the border."""
    return (np.clip(x1, 0, width), np.clip(y1, 0, height), np.clip(x2, 0, width), np.clip(y2, 0, height))
