"""Annotator agreement on frames labelled by two or more annotators: a greedy IoU matching of their boxes, a table
per annotator pair, and the annotator_disagreement rule for boxes another annotator of the frame did not draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vision_assets.core.qc.arrays import (
    RowArrays,
    frame_layout,
    group_ids,
    neighbour_pairs,
    overlap_candidates,
    row_arrays,
    rows_iou,
    sort_rows,
)
from vision_assets.core.qc.registry import WARNING, QcContext, QcRule, qc_rule

AGREEMENT_RULES: list[QcRule] = []  # this module's rules, in the order they are defined

AGREEMENT_COLUMNS = ["annotator_a", "annotator_b", "frames", "boxes_a", "boxes_b", "matched", "agreement"]


def _greedy_match(end_a: np.ndarray, end_b: np.ndarray, iou: np.ndarray) -> np.ndarray:
    """Greedy one-to-one matching by descending IoU, as a mask over the candidate pairs.

    A pair whose IoU is the best for both its ends would be taken by the sequential greedy too; taking all such
    pairs at once, dropping their ends and repeating gives the same matching in a few vectorised rounds.
    """
    accepted = np.zeros(len(iou), dtype=bool)
    if len(iou) == 0:
        return accepted
    rank = np.empty(len(iou), dtype=np.int64)
    rank[np.lexsort((end_b, end_a, -iou))] = np.arange(len(iou))  # ties broken by row order: deterministic
    # Ends renumbered densely, so the per-round arrays are as small as the candidate set.
    ends, uniques = pd.factorize(np.concatenate([end_a, end_b]))
    end_a, end_b, n_ends = ends[: len(iou)], ends[len(iou):], len(uniques)
    alive = np.ones(len(iou), dtype=bool)
    while alive.any():
        best = np.full(n_ends, len(iou), dtype=np.int64)
        live = np.flatnonzero(alive)
        np.minimum.at(best, end_a[live], rank[live])
        np.minimum.at(best, end_b[live], rank[live])
        take = live[(best[end_a[live]] == rank[live]) & (best[end_b[live]] == rank[live])]
        accepted[take] = True
        used = np.zeros(n_ends, dtype=bool)
        used[end_a[take]] = used[end_b[take]] = True
        alive &= ~(used[end_a] | used[end_b])
    return accepted


@dataclass(frozen=True)
class Agreement:
    table: pd.DataFrame  # AGREEMENT_COLUMNS
    disagreeing: np.ndarray  # row mask


def _empty_agreement_table() -> pd.DataFrame:
    return pd.DataFrame({
        "annotator_a": pd.Series(dtype=str), "annotator_b": pd.Series(dtype=str), "frames": pd.Series(dtype=np.int64),
        "boxes_a": pd.Series(dtype=np.int64), "boxes_b": pd.Series(dtype=np.int64),
        "matched": pd.Series(dtype=np.int64), "agreement": pd.Series(dtype=np.float64),
    })


def _cross_annotator_matches(a: RowArrays, rows: np.ndarray, frame_gid: np.ndarray, iou_min: float):
    """Greedy matches between boxes of one class on one frame drawn by two annotators.

    Returns (left rows, right rows) of the accepted pairs, left being the annotator with the smaller code.
    """
    n_ann = len(a.annotators)
    frame_of_row = np.zeros(a.n, dtype=np.int64)
    frame_of_row[rows] = frame_gid
    by_class = [(frame_of_row, int(frame_gid[-1]) + 1), (a.cls, len(a.classes))]
    order = sort_rows(rows, by_class)
    lefts, rights = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for first, second in overlap_candidates(a, order, group_ids(order, by_class), iou_min):
        other = a.annotator[first] != a.annotator[second]
        first, second = first[other], second[other]
        # The left box is the one whose annotator has the smaller code (names sort the codes).
        swap = a.annotator[first] > a.annotator[second]
        left, right = np.where(swap, second, first), np.where(swap, first, second)
        close = rows_iou(a, left, right) >= iou_min
        lefts.append(left[close])
        rights.append(right[close])
    left, right = np.concatenate(lefts), np.concatenate(rights)
    # A box is matched at most once per other annotator: its "end" is (row, the other annotator).
    accepted = _greedy_match(left * n_ann + a.annotator[right], right * n_ann + a.annotator[left],
                             rows_iou(a, left, right))
    return left[accepted], right[accepted]


def _pair_table(a: RowArrays, frame: np.ndarray, annotator: np.ndarray, boxes: np.ndarray,
                matched_left: np.ndarray, matched_right: np.ndarray) -> pd.DataFrame:
    """Per annotator pair: frames both labelled, each one's boxes on those frames, and matches.

    frame, annotator, boxes: one entry per (frame, annotator) labelling of a shared frame, sorted by frame.
    """
    n_ann = len(a.annotators)
    pair_codes, boxes_a, boxes_b = [], [], []
    for positions, k in neighbour_pairs(frame):
        pair_codes.append(annotator[positions] * n_ann + annotator[positions + k])
        boxes_a.append(boxes[positions])
        boxes_b.append(boxes[positions + k])
    code, size = np.concatenate(pair_codes), n_ann * n_ann
    frames = np.bincount(code, minlength=size)
    present = np.flatnonzero(frames)
    matched = np.bincount(a.annotator[matched_left] * n_ann + a.annotator[matched_right], minlength=size)
    table = pd.DataFrame({
        "annotator_a": a.annotators[present // n_ann].astype(str),
        "annotator_b": a.annotators[present % n_ann].astype(str),
        "frames": frames[present],
        "boxes_a": np.bincount(code, weights=np.concatenate(boxes_a), minlength=size)[present].astype(np.int64),
        "boxes_b": np.bincount(code, weights=np.concatenate(boxes_b), minlength=size)[present].astype(np.int64),
        "matched": matched[present],
    })
    # F1-style: matched boxes over the boxes both drew, so 1.0 means every box of either side was found by the other.
    table["agreement"] = 2 * table["matched"] / (table["boxes_a"] + table["boxes_b"])
    return table


def annotator_agreement(df: pd.DataFrame, ctx: QcContext) -> Agreement:
    """The pair table and the disagreeing rows, computed once per run (cached in the context)."""
    if "agreement" in ctx.cache:
        return ctx.cache["agreement"]
    a, layout = row_arrays(df, ctx), frame_layout(df, ctx)
    result = Agreement(_empty_agreement_table(), np.zeros(a.n, dtype=bool))
    ctx.cache["agreement"] = result
    if a.n == 0:
        return result

    # One entry per (frame, annotator) labelling; its number is its labelling gid.
    labelling_start = layout.labelling_starts
    labelling_frame = layout.frame_gid[labelling_start]
    annotators_on_frame = np.bincount(labelling_frame)
    shared = np.flatnonzero(annotators_on_frame[layout.frame_gid] >= 2)  # sorted positions on double-labelled frames
    if len(shared) == 0:
        return result
    rows, frame_gid = layout.order[shared], layout.frame_gid[shared]
    left, right = _cross_annotator_matches(a, rows, frame_gid, ctx.config.agreement_iou)

    # A box that some other annotator of its frame did not draw is disputed.
    matches = np.bincount(np.concatenate([left, right]), minlength=a.n)
    result.disagreeing[rows[matches[rows] < annotators_on_frame[frame_gid] - 1]] = True

    entries = np.flatnonzero(annotators_on_frame[labelling_frame] >= 2)
    table = _pair_table(a, labelling_frame[entries], a.annotator[layout.order[labelling_start[entries]]],
                        np.bincount(layout.labelling_gid)[entries], left, right)
    ctx.cache["agreement"] = result = Agreement(table, result.disagreeing)
    return result


@qc_rule("annotator_disagreement", WARNING, "on a frame labelled twice, another annotator has no box matching this one",
         registry=AGREEMENT_RULES)
def _annotator_disagreement(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return annotator_agreement(df, ctx).disagreeing
