"""The numpy view of an annotation table that the QC rules share, and the sort-and-group helpers they build on.

Every string column becomes integer codes once per run (cached in the QcContext); rules work on numpy from there.
Grouped rules (duplicates, tracks, agreement) sort the rows once by an integer key and compare each row with its
neighbours in sorted order, instead of a pandas groupby with a Python function. Rules that look for boxes overlapping
above an IoU (duplicates, agreement) sweep each group in x1 order and stop as soon as no later box can reach that
IoU, so a frame with 30,000 boxes costs the pairs that nearly coincide, not 30,000 squared.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vision_assets.core import geometry
from vision_assets.core.qc.registry import QcContext

BOX = ["x1", "y1", "x2", "y2"]


@dataclass(frozen=True)
class RowArrays:
    n: int
    x1: np.ndarray
    y1: np.ndarray
    x2: np.ndarray
    y2: np.ndarray
    frame: np.ndarray
    track: np.ndarray
    video: np.ndarray  # codes into videos
    videos: np.ndarray
    annotator: np.ndarray  # codes into annotators, which are sorted so pairs come out in name order
    annotators: np.ndarray
    cls: np.ndarray
    classes: np.ndarray
    file: np.ndarray
    files: np.ndarray

    def box(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x1, y1, x2, y2) of the given rows."""
        return self.x1[rows], self.y1[rows], self.x2[rows], self.y2[rows]


def codes(series: pd.Series, sort: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of a column and the values they index. Missing values get a code of their own."""
    values, uniques = pd.factorize(series, sort=sort, use_na_sentinel=False)
    return values.astype(np.int64, copy=False), np.asarray(uniques, dtype=object)


def _labeller(df: pd.DataFrame) -> pd.Series:
    """Who labelled a row: its annotator, or for files that name none, the file itself, so that two unnamed
    label files of one video are two labellings (double labelling, not one person's duplicates)."""
    names = df["annotator"].fillna("").astype(str)
    unnamed = names == ""
    return names.where(~unnamed, "(unnamed) " + df["source_file"].astype(str)) if unnamed.any() else names


def row_arrays(df: pd.DataFrame, ctx: QcContext) -> RowArrays:
    if "arrays" not in ctx.cache:
        x1, y1, x2, y2 = (df[c].to_numpy(dtype=np.float64) for c in BOX)
        video, videos = codes(df["video_sha256"])
        annotator, annotators = codes(_labeller(df), sort=True)
        cls, classes = codes(df["class_name"])
        file, files = codes(df["source_file"])
        ctx.cache["arrays"] = RowArrays(
            n=len(df), x1=x1, y1=y1, x2=x2, y2=y2,
            frame=df["frame_index"].to_numpy(dtype=np.int64), track=df["track_id"].to_numpy(dtype=np.int64),
            video=video, videos=videos, annotator=annotator, annotators=annotators, cls=cls, classes=classes,
            file=file, files=files,
        )
    return ctx.cache["arrays"]


def rows_iou(a: RowArrays, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """IoU of the boxes of rows i[k] and j[k], for every k."""
    return geometry.iou(a.box(i), a.box(j))


def dense(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Shift integers to start at 0, so they can be one digit of a composite sort key."""
    if len(values) == 0:
        return values, 1
    low = int(values.min())
    return values - low, int(values.max()) - low + 1


def sort_rows(rows: np.ndarray, parts: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """`rows` ordered by the composite key (most significant part first); ties keep source order.

    parts: (codes over all rows in [0, cardinality), cardinality). One int64 key and a stable argsort is several
    times faster than np.lexsort; lexsort is the fallback when the key would overflow.
    """
    if math.prod(card for _, card in parts) < 2**62:
        key = np.zeros(len(rows), dtype=np.int64)
        for values, card in parts:
            key *= card
            key += values[rows]
        return rows[np.argsort(key, kind="stable")]
    keys = [np.arange(len(rows))] + [values[rows] for values, _ in reversed(parts)]
    return rows[np.lexsort(keys)]


def group_ids(order: np.ndarray, parts: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Dense group number per sorted position, groups being runs of equal `parts` (a prefix of the sort key)."""
    new = np.zeros(len(order), dtype=bool)
    if len(order):
        new[0] = True
        for values, _ in parts:
            v = values[order]
            new[1:] |= v[1:] != v[:-1]
    return np.cumsum(new) - 1


def group_starts(gid: np.ndarray) -> np.ndarray:
    """Positions where each run of equal group numbers begins."""
    return np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])


def _rank_in_group(gid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each sorted row inside its group, and how many rows of the group follow it."""
    sizes = np.bincount(gid)
    starts = np.cumsum(sizes) - sizes
    rank = np.arange(len(gid)) - starts[gid]
    return rank, sizes[gid] - rank - 1


def neighbour_pairs(gid: np.ndarray) -> Iterable[tuple[np.ndarray, int]]:
    """For k = 1, 2, ...: the sorted positions p whose group also holds p + k.

    Groups are small (boxes of one frame), so the candidate set shrinks to nothing after a few steps; the total work
    is the number of pairs inside groups, not rows times the largest group.
    """
    _, following = _rank_in_group(gid)
    candidates = np.flatnonzero(following >= 1)
    k = 1
    while len(candidates):
        yield candidates, k
        k += 1
        candidates = candidates[following[candidates] >= k]


@dataclass(frozen=True)
class FrameLayout:
    """All rows sorted by (video, frame, annotator, class), with the group numbers of each prefix."""

    order: np.ndarray
    frame_gid: np.ndarray  # (video, frame)
    labelling_gid: np.ndarray  # (video, frame, annotator): one annotator's labelling of one frame
    class_gid: np.ndarray  # (video, frame, annotator, class)

    @property
    def labelling_starts(self) -> np.ndarray:
        """Positions (in `order`) where each labelling group begins."""
        return group_starts(self.labelling_gid)


def frame_layout(df: pd.DataFrame, ctx: QcContext) -> FrameLayout:
    if "frame_layout" not in ctx.cache:
        a = row_arrays(df, ctx)
        frame, n_frames = dense(a.frame)
        video = (a.video, len(a.videos))
        parts = [video, (frame, n_frames), (a.annotator, len(a.annotators)), (a.cls, len(a.classes))]
        order = sort_rows(np.arange(a.n), parts)
        ctx.cache["frame_layout"] = FrameLayout(
            order, group_ids(order, parts[:2]), group_ids(order, parts[:3]), group_ids(order, parts)
        )
    return ctx.cache["frame_layout"]


# Groups up to this size compare every pair (cheap, and the usual case: a handful of boxes per class and frame);
# larger ones go through the grid.
ALL_PAIRS_UP_TO = 32


def overlap_candidates(a: RowArrays, rows: np.ndarray, gid: np.ndarray, min_iou: float
                       ) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """Pairs (i, j) of `rows` in one group (gid: a group number per entry of `rows`) whose IoU may be at least
    min_iou: a superset of those pairs, each pair once.

    Two boxes with IoU >= t > 0 overlap by at least t of their union, so their left edges lie less than (1 - t)
    times the left box's width apart (inter <= (w - dx) h and inter >= t w h), and likewise their top edges. Boxes
    without finite corners and a positive width and height have IoU 0, so they pair with nothing. A small group
    compares all its pairs; a larger one is put in rows of a grid (cells (1 - t) times its tallest box high) and
    swept in x1 order within a cell and its neighbour below, where a box meets only the boxes within (1 - t) times
    its own width to its right. With t <= 0 every pair of a group qualifies (quadratic, as the rule then asks for).
    """
    if len(rows) < 2:
        return
    if min_iou > 0:
        x1, y1, x2, y2 = a.box(rows)
        with np.errstate(invalid="ignore"):
            usable = np.isfinite(x1) & np.isfinite(y1) & np.isfinite(x2) & np.isfinite(y2) & (x2 > x1) & (y2 > y1)
        rows, gid = rows[usable], gid[usable]
        if len(rows) < 2:
            return
    sizes = np.bincount(gid)
    small = sizes[gid] <= ALL_PAIRS_UP_TO if min_iou > 0 else np.ones(len(rows), dtype=bool)
    pairs_of = np.flatnonzero(small & (sizes[gid] >= 2))
    if len(pairs_of):
        order = pairs_of[np.argsort(gid[pairs_of], kind="stable")]
        for positions, k in neighbour_pairs(gid[order]):
            yield rows[order[positions]], rows[order[positions + k]]
    if not small.all():
        large = ~small
        yield from _grid_candidates(a, rows[large], np.unique(gid[large], return_inverse=True)[1], min_iou)


def _grid_candidates(a: RowArrays, rows: np.ndarray, gid: np.ndarray, min_iou: float):
    """overlap_candidates of large groups (every box usable, min_iou > 0).

    Boxes with IoU >= t have heights within a factor 1/t of each other (inter <= w_a h_b < t w_a h_a otherwise), so
    each group is split into height classes, powers of 1/t apart, and a box meets only its own class and the next
    one up (as a "class shadow"). Within a class pair, boxes are put in rows of a grid (cells (1 - t) times its
    tallest box high) and meet their cell and the next one down (as a "cell shadow"), swept in x1 order: a box
    meets only the boxes within (1 - t) times its own width to its right. A pair met as two shadows of one kind was
    already met in its own class or cell, so it is left out: each pair comes once.
    """
    t = min(min_iou, 1.0)
    share = (1.0 - t) * (1 + 1e-9)  # a little slack so rounding never drops a pair the exact IoU keeps
    x1, y1 = a.x1[rows], a.y1[rows]
    width, height = a.x2[rows] - x1, a.y2[rows] - y1
    n = len(rows)
    base = max(1.0 / t, 1 + 1e-6) * (1 + 1e-9)  # a wider class only adds candidates
    height_class = np.floor(np.log(height) / np.log(base)).astype(np.int64)

    # Class copies: home and class shadow, each run being (group, class).
    box1 = np.r_[np.arange(n), np.arange(n)]
    class_shadow = np.r_[np.zeros(n, dtype=bool), np.ones(n, dtype=bool)]
    class1, classes = dense(np.r_[height_class, height_class + 1])
    run1 = _dense_pairs(gid[box1], int(gid.max()) + 1, class1, classes)
    n_runs = int(run1.max()) + 1
    tallest, top = np.zeros(n_runs), np.full(n_runs, np.inf)
    np.maximum.at(tallest, run1, height[box1])
    np.minimum.at(top, run1, y1[box1])
    cell_height = tallest * share + 1e-9
    cell1 = np.clip(np.floor((y1[box1] - top[run1]) / cell_height[run1]), 0, 2**52).astype(np.int64)

    # Cell copies of every class copy: home and cell shadow, each run being (group, class, cell).
    entry = np.r_[np.arange(2 * n), np.arange(2 * n)]
    cell_shadow = np.r_[np.zeros(2 * n, dtype=bool), np.ones(2 * n, dtype=bool)]
    cell2 = np.r_[cell1, cell1 + 1]
    cells = int(cell2.max()) + 1
    box = box1[entry]
    x_rank = np.empty(n, dtype=np.int64)
    x_rank[np.argsort(x1, kind="stable")] = np.arange(n)
    if n_runs * cells * n < 2**62:
        # One integer key (run, cell, rank of x1) sorts every copy by run, then x1: no float sort of the copies.
        run = run1[entry] * cells + cell2
        order = np.argsort(run * n + x_rank[box])
    else:
        run = _dense_pairs(run1[entry], n_runs, cell2, cells)
        order = np.lexsort((x_rank[box], run))
    run, left = run[order], x1[box[order]]
    # Sorted by x1, the earlier box of a pair is its left one: its own width bounds how far the other may lie.
    reach = (width * share + 1e-9)[box[order]]
    low = t * (1 - 1e-9)
    for first, second in _sweep(order, run, left, reach):
        e1, e2 = entry[first], entry[second]
        once = ~((class_shadow[e1] & class_shadow[e2]) | (cell_shadow[first] & cell_shadow[second]))
        i, j = box[first[once]], box[second[once]]
        upper_height = np.where(y1[i] <= y1[j], height[i], height[j])
        near = ((np.abs(y1[i] - y1[j]) <= upper_height * share + 1e-9)
                & (np.minimum(width[i], width[j]) >= low * np.maximum(width[i], width[j]))
                & (np.minimum(height[i], height[j]) >= low * np.maximum(height[i], height[j])))
        yield rows[i[near]], rows[j[near]]


def _dense_pairs(a: np.ndarray, a_card: int, b: np.ndarray, b_card: int) -> np.ndarray:
    """A dense number per distinct (a, b) pair, in (a, b) order."""
    if a_card * b_card < 2**62:
        return np.unique(a * b_card + b, return_inverse=True)[1].astype(np.int64)
    order = np.lexsort((b, a))
    out = np.empty(len(a), dtype=np.int64)
    out[order] = group_ids(order, [(a, a_card), (b, b_card)])
    return out


def _sweep(items: np.ndarray, run: np.ndarray, left: np.ndarray, reach: np.ndarray):
    """Pairs of `items` (sorted by run, then `left`) in one run whose `left` values lie within `reach` (per item,
    of the earlier one) of each other: k = 1, 2, ... positions apart until none is left."""
    candidates = np.arange(len(items) - 1)
    k = 1
    while len(candidates):
        later = candidates + k
        inside = later < len(items)
        candidates, later = candidates[inside], later[inside]
        near = (run[later] == run[candidates]) & (left[later] - left[candidates] <= reach[candidates])
        candidates, later = candidates[near], later[near]
        if len(candidates):
            yield items[candidates], items[later]
        k += 1
