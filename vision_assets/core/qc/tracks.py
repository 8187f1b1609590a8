"""Track rules: rows with track_id >= 0, one track per (video, annotator, source file, track id), in frame order.

All four masks come from one sort of the tracked rows, computed by the first track rule to run and cached.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vision_assets.core.qc.arrays import RowArrays, dense, group_ids, group_starts, row_arrays, sort_rows
from vision_assets.core.qc.registry import ERROR, WARNING, QcConfig, QcContext, QcRule, qc_rule

TRACK_RULES: list[QcRule] = []  # this module's rules, in the order they are defined


def _group_lower_median(gid: np.ndarray, values: np.ndarray, n_groups: int, default: int) -> np.ndarray:
    """Lower median of integer `values` per group (gid sorted ascending), `default` for groups with none."""
    out = np.full(n_groups, default, dtype=np.int64)
    if len(values) == 0:
        return out
    shifted, span = dense(values)
    ordered = values[np.argsort(gid * span + shifted, kind="stable")]
    sizes = np.bincount(gid, minlength=n_groups)
    starts = np.cumsum(sizes) - sizes
    has = sizes > 0
    out[has] = ordered[starts[has] + (sizes[has] - 1) // 2]
    return out


def _majority(gid: np.ndarray, values: np.ndarray, n_codes: int) -> np.ndarray:
    """Most frequent code per group (gid sorted ascending); a tie goes to the code seen first."""
    pairs, inverse, counts = np.unique(gid * n_codes + values, return_inverse=True, return_counts=True)
    first_seen = np.full(len(pairs), len(gid), dtype=np.int64)
    np.minimum.at(first_seen, inverse, np.arange(len(gid)))
    group = pairs // n_codes
    ranked = np.lexsort((first_seen, -counts, group))
    winners = ranked[np.r_[True, group[ranked][1:] != group[ranked][:-1]]]
    return pairs[winners] % n_codes  # one per group, in group order


@dataclass(frozen=True)
class _Steps:
    """Tracked rows in (track, frame) order, and each one's step from the box before it on its track."""

    order: np.ndarray  # rows, sorted
    gid: np.ndarray  # track number per sorted position
    first_of_track: np.ndarray  # sorted position of the track's first box
    has_prev: np.ndarray  # not the first box of its track
    step_frames: np.ndarray  # frames since the previous box of the track (0 for a track's first box)


def _steps(a: RowArrays, rows: np.ndarray) -> _Steps:
    track_codes, tracks = pd.factorize(a.track)
    frame, n_frames = dense(a.frame)
    parts = [(a.video, len(a.videos)), (a.annotator, len(a.annotators)), (a.file, len(a.files)),
             (track_codes.astype(np.int64), len(tracks))]
    order = sort_rows(rows, [*parts, (frame, n_frames)])
    gid = group_ids(order, parts)
    first_of_track = group_starts(gid)[gid]
    has_prev = np.arange(len(order)) != first_of_track
    f = a.frame[order]
    step_frames = np.zeros(len(order), dtype=np.int64)
    step_frames[1:] = f[1:] - f[:-1]
    step_frames[~has_prev] = 0
    return _Steps(order, gid, first_of_track, has_prev, step_frames)


def _jumps(a: RowArrays, s: _Steps, moved: np.ndarray, max_jump: float) -> np.ndarray:
    """Rows whose centre moved more than max_jump box diagonals per frame since the previous box of the track.

    The diagonal is the mean of the two boxes', so a growing box is not a jump.
    """
    p = np.flatnonzero(moved)
    cur, prev = s.order[p], s.order[p - 1]
    dx = (a.x1[cur] + a.x2[cur] - a.x1[prev] - a.x2[prev]) / 2
    dy = (a.y1[cur] + a.y2[cur] - a.y1[prev] - a.y2[prev]) / 2
    diagonal = (np.hypot(a.x2[cur] - a.x1[cur], a.y2[cur] - a.y1[cur])
                + np.hypot(a.x2[prev] - a.x1[prev], a.y2[prev] - a.y1[prev])) / 2
    per_frame = np.hypot(dx, dy) / s.step_frames[p]
    return cur[per_frame > max_jump * diagonal]


def _fill_masks(masks: dict[str, np.ndarray], a: RowArrays, s: _Steps, cfg: QcConfig) -> None:
    order, gid, has_prev, step_frames = s.order, s.gid, s.has_prev, s.step_frames

    # One object cannot be in two places of one frame: the later box of the frame is the error.
    masks["duplicate"][order[has_prev & (step_frames == 0)]] = True

    # A track id that changes class, or comes back after a long absence, names a second object. The track's class
    # is its majority class, so one mislabelled first box does not condemn the rest of the track.
    cls = a.cls[order]
    new_object = has_prev & (step_frames > cfg.reuse_gap_frames)
    segment = np.cumsum(new_object)
    after_reuse = (segment - segment[s.first_of_track]) > 0
    masks["reused"][order[(cls != _majority(gid, cls, len(a.classes))[gid]) | after_reuse]] = True

    # The track's usual step (its lower median frame step) is normal: CVAT's frame_filter step 3 boxes every 3rd
    # frame. A gap counts the steps missing beyond it.
    moved = has_prev & (step_frames > 0) & (step_frames <= cfg.reuse_gap_frames)
    positive = np.flatnonzero(has_prev & (step_frames > 0))
    usual = _group_lower_median(gid[positive], step_frames[positive], int(gid[-1]) + 1, default=1)
    missing_steps = step_frames / usual[gid] - 1
    masks["gap"][order[moved & (missing_steps > cfg.max_gap_frames)]] = True

    masks["jump"][_jumps(a, s, moved, cfg.max_jump)] = True


def _track_masks(df: pd.DataFrame, ctx: QcContext) -> dict[str, np.ndarray]:
    if "tracks" in ctx.cache:
        return ctx.cache["tracks"]
    a = row_arrays(df, ctx)
    masks = {name: np.zeros(a.n, dtype=bool) for name in ("duplicate", "reused", "gap", "jump")}
    ctx.cache["tracks"] = masks
    rows = np.flatnonzero(a.track >= 0)
    if len(rows):
        _fill_masks(masks, a, _steps(a, rows), ctx.config)
    return masks


@qc_rule("track_duplicate_in_frame", ERROR, "a track has a second box in one frame (the later one is rejected)",
         registry=TRACK_RULES)
def _track_duplicate_in_frame(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return _track_masks(df, ctx)["duplicate"]


@qc_rule("track_id_reused", ERROR,
         "a box off its track's majority class, or after the track id reappeared past reuse_gap_frames",
         registry=TRACK_RULES)
def _track_id_reused(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return _track_masks(df, ctx)["reused"]


@qc_rule("track_gap", WARNING, "more than max_gap_frames of the track's own steps missing before this box",
         registry=TRACK_RULES)
def _track_gap(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return _track_masks(df, ctx)["gap"]


@qc_rule("track_jump", WARNING, "the centre moved more than max_jump box diagonals per frame since the last box",
         registry=TRACK_RULES)
def _track_jump(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return _track_masks(df, ctx)["jump"]
