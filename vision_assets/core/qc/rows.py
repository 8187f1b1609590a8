"""Row rules: a box's geometry against its image, its class against the taxonomy, its frame against the video, and
boxes one annotator drew twice.

Registered in this order when the engine imports the module; they are the first rules of the default registry.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vision_assets.core.qc.arrays import frame_layout, overlap_candidates, row_arrays, rows_iou
from vision_assets.core.qc.registry import ERROR, QcContext, QcRule, qc_rule

ROW_RULES: list[QcRule] = []  # this module's rules, in the order they are defined


def _image_wh(df: pd.DataFrame, ctx: QcContext) -> tuple[np.ndarray, np.ndarray]:
    # Looked up once per distinct video, then spread by code: unknown sizes are NaN.
    a = row_arrays(df, ctx)
    sizes = [ctx.image_sizes.get(v) for v in a.videos]
    w = np.array([np.nan if s is None else float(s[0]) for s in sizes], dtype=np.float64)
    h = np.array([np.nan if s is None else float(s[1]) for s in sizes], dtype=np.float64)
    return w[a.video], h[a.video]


@qc_rule("coordinates_not_finite", ERROR, "a corner is NaN or infinite", registry=ROW_RULES)
def _coordinates_not_finite(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    a = row_arrays(df, ctx)
    return ~(np.isfinite(a.x1) & np.isfinite(a.y1) & np.isfinite(a.x2) & np.isfinite(a.y2))


@qc_rule("box_not_positive", ERROR, "zero or negative width or height", registry=ROW_RULES)
def _box_not_positive(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    a = row_arrays(df, ctx)
    return (a.x2 <= a.x1) | (a.y2 <= a.y1)


@qc_rule("box_outside_image", ERROR, "a corner lies outside the image by more than tolerance_px", registry=ROW_RULES)
def _box_outside_image(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    # Unknown sizes are NaN here, so those rows compare False and are left to unknown_image_size.
    a = row_arrays(df, ctx)
    w, h = _image_wh(df, ctx)
    tol = ctx.tolerance_px
    return (a.x1 < -tol) | (a.y1 < -tol) | (a.x2 > w + tol) | (a.y2 > h + tol)


@qc_rule("unknown_image_size", ERROR, "the video's frame size is unknown, so the box cannot be checked",
         registry=ROW_RULES)
def _unknown_image_size(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    a = row_arrays(df, ctx)
    known = np.array([v in ctx.image_sizes for v in a.videos], dtype=bool)
    return ~known[a.video]


@qc_rule("unknown_class", ERROR, "the class is not in the taxonomy", registry=ROW_RULES)
def _unknown_class(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    a = row_arrays(df, ctx)
    known = np.array([c in ctx.known_classes for c in a.classes], dtype=bool)
    return ~known[a.cls]


@qc_rule("frame_out_of_range", ERROR, "the frame index is negative or past the last decoded frame", registry=ROW_RULES)
def _frame_out_of_range(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    # A label on a frame that does not decode (the cut-off tail of a truncated video) can never be trained on.
    a = row_arrays(df, ctx)
    counts = np.array([float(ctx.frame_counts.get(v, np.nan)) for v in a.videos], dtype=np.float64)
    return (a.frame < 0) | (a.frame >= counts[a.video])


# Duplicates: one annotator labelled one object twice in a frame. Two annotators on one frame is double labelling,
# handled by the agreement rule instead.


@qc_rule("duplicate_box", ERROR, "IoU above duplicate_iou with an earlier box of the same class, frame and annotator",
         registry=ROW_RULES)
def _duplicate_box(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    a = row_arrays(df, ctx)
    layout = frame_layout(df, ctx)
    hit = np.zeros(a.n, dtype=bool)
    # Row numbers are source order: of two boxes above the IoU, the later row is the copy.
    for first, second in overlap_candidates(a, layout.order, layout.class_gid, ctx.config.duplicate_iou):
        close = rows_iou(a, first, second) > ctx.config.duplicate_iou
        hit[np.maximum(first, second)[close]] = True
    return hit
