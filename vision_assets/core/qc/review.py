"""The spot-check sample: frames drawn, reproducibly, for a human to re-check each annotator's work."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vision_assets.core.qc.arrays import frame_layout, row_arrays
from vision_assets.core.qc.registry import QcContext

REVIEW_COLUMNS = ["annotator", "video_sha256", "frame_index", "source_file"]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-spread, platform-independent hash of uint64 values."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def review_sample(df: pd.DataFrame, ctx: QcContext) -> pd.DataFrame:
    """The frames a human should re-check: a hash-drawn share of each annotator's frames, at least one each.

    Hashing (seed, annotator, video, frame) rather than drawing at random makes the sample reproducible, and a frame
    stays drawn when more frames arrive; the lowest hashes per annotator are taken.
    """
    a, layout = row_arrays(df, ctx), frame_layout(df, ctx)
    if a.n == 0:
        return pd.DataFrame({c: pd.Series(dtype=np.int64 if c == "frame_index" else object) for c in REVIEW_COLUMNS})
    cfg = ctx.config
    starts = layout.order[layout.labelling_starts]
    ann, vid, frame = a.annotator[starts], a.video[starts], a.frame[starts]
    key = "vision-assets-qc"  # hash_array needs a 16-byte key; the seed is mixed in below
    video_hash = pd.util.hash_array(a.videos.astype(str), hash_key=key)
    annotator_hash = pd.util.hash_array(a.annotators.astype(str), hash_key=key)
    with np.errstate(over="ignore"):
        h = _mix(frame.astype(np.uint64) ^ _mix(np.full(len(frame), cfg.review_seed, dtype=np.uint64)))
        h = _mix(h ^ video_hash[vid])
        h = _mix(h ^ annotator_hash[ann])
    order = np.lexsort((h, ann))
    per_annotator = np.bincount(ann, minlength=len(a.annotators))
    wanted = np.maximum(1, np.ceil(per_annotator * cfg.review_share)).astype(np.int64)
    rank = np.arange(len(order)) - (np.cumsum(per_annotator) - per_annotator)[ann[order]]
    chosen = starts[order[rank < wanted[ann[order]]]]
    review = pd.DataFrame({
        "annotator": a.annotators[a.annotator[chosen]].astype(str),
        "video_sha256": a.videos[a.video[chosen]].astype(str),
        "frame_index": a.frame[chosen],
        "source_file": a.files[a.file[chosen]].astype(str),
    })
    return review.sort_values(["annotator", "video_sha256", "frame_index"], ignore_index=True)
