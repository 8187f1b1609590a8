"""Quality checks on canonical annotation rows: a registry of small, named, vectorised rules with a severity.

An "error" rule rejects a row: it leaves `kept` and counts against the pass rate. A "warning" rule flags a row: it
stays in `kept` and is listed in `flagged` for a human to look at. Every rule returns a boolean mask over the rows;
reason strings are built only for the rows that end up rejected or flagged, so a million boxes cost a handful of
numpy passes over integer codes, never a Python loop per row.

Grouped rules (duplicates, tracks, agreement) sort the rows once by an integer key and compare each row with its
neighbours in sorted order, instead of a pandas groupby with a Python function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from vision_assets.core.labels import ANNOTATION_COLUMNS

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)

_BOX = ["x1", "y1", "x2", "y2"]
# A plain pattern string (not a compiled one) keeps str.contains on pyarrow's regex engine instead of Python's.
_SEGMENTATION = r'"segmentation"\s*:\s*(?:true|"[a-z]+")'  # the COCO reader records the kind: "polygon" or "rle"


@dataclass(frozen=True)
class QcConfig:
    """Thresholds of the rules and per-team overrides. A team's own rule may read fields of a subclass."""

    tolerance_px: float = 0.5  # how far a box may stick out of the image (rounding of exported corners)
    duplicate_iou: float = 0.9  # same class, frame and annotator above this IoU: one object labelled twice
    reuse_gap_frames: int = 300  # a track id that comes back after more frames than this is another object
    max_gap_frames: float = 5.0  # missing boxes inside a track, counted in the track's own steps
    max_jump: float = 0.5  # centre movement per frame, in box diagonals, that no real object makes
    agreement_iou: float = 0.5  # two annotators' boxes of one class match at or above this IoU
    review_share: float = 0.05  # share of each annotator's frames drawn for a human spot check
    review_seed: int = 0  # changes which frames are drawn, deterministically
    area_tolerance: float = 0.05  # relative slack between a declared area and the box area
    class_names: tuple[str, ...] | None = None  # the names list class ids index; None: the known classes, in order
    id_indexed_formats: tuple[str, ...] = ("yolo",)  # formats whose class id is a position in the names list
    severities: Mapping[str, str] = field(default_factory=dict)  # rule name -> "error" | "warning" override
    disabled: frozenset[str] = frozenset()  # rule names not to run


@dataclass(frozen=True)
class QcContext:
    image_sizes: dict[str, tuple[int, int]]  # video_sha256 -> (width, height)
    known_classes: frozenset[str]
    tolerance_px: float
    frame_counts: dict[str, int] = field(default_factory=dict)  # video_sha256 -> decoded frames
    config: QcConfig = field(default_factory=QcConfig)
    class_names: tuple[str, ...] = ()  # ordered names list, for the class id rule
    # Arrays and sort orders that several rules share, computed once per run (a context serves one table).
    cache: dict = field(default_factory=dict, compare=False, repr=False)


# A rule returns a boolean mask of the rows that violate it.
RuleCheck = Callable[[pd.DataFrame, QcContext], np.ndarray]


@dataclass(frozen=True)
class QcRule:
    name: str  # a contract: it appears in reasons, rule_counts and dashboards
    severity: str  # "error" rejects the row, "warning" flags it
    check: RuleCheck
    description: str = ""


# The default registry. Order here is the order of names in a row's "reasons"; new rules append.
RULES: list[QcRule] = []


def qc_rule(name: str, severity: str, description: str = "", registry: list[QcRule] | None = None):
    """Decorator that adds a check to a registry (the default one unless given): the way a team adds a rule."""
    if severity not in SEVERITIES:
        raise ValueError(f"qc rule {name}: severity must be one of {SEVERITIES}, not {severity!r}")
    target = RULES if registry is None else registry

    def register(check: RuleCheck) -> RuleCheck:
        if any(rule.name == name for rule in target):
            raise ValueError(f"qc rule {name} is already registered")
        target.append(QcRule(name, severity, check, description))
        return check

    return register


# ---------------------------------------------------------------------------------------------------------------
# Shared arrays: every string column becomes integer codes once; rules work on numpy from there.


@dataclass(frozen=True)
class _Arrays:
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


def _codes(series: pd.Series, sort: bool = False) -> tuple[np.ndarray, np.ndarray]:
    # Missing values get a code of their own, so every code indexes the uniques.
    codes, uniques = pd.factorize(series, sort=sort, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), np.asarray(uniques, dtype=object)


def _labeller(df: pd.DataFrame) -> pd.Series:
    """Who labelled a row: its annotator, or for files that name none, the file itself, so that two unnamed
    label files of one video are two labellings (double labelling, not one person's duplicates)."""
    names = df["annotator"].fillna("").astype(str)
    unnamed = names == ""
    return names.where(~unnamed, "(unnamed) " + df["source_file"].astype(str)) if unnamed.any() else names


def _arrays(df: pd.DataFrame, ctx: QcContext) -> _Arrays:
    if "arrays" not in ctx.cache:
        x1, y1, x2, y2 = (df[c].to_numpy(dtype=np.float64) for c in _BOX)
        video, videos = _codes(df["video_sha256"])
        annotator, annotators = _codes(_labeller(df), sort=True)
        cls, classes = _codes(df["class_name"])
        file, files = _codes(df["source_file"])
        ctx.cache["arrays"] = _Arrays(
            n=len(df), x1=x1, y1=y1, x2=x2, y2=y2,
            frame=df["frame_index"].to_numpy(dtype=np.int64), track=df["track_id"].to_numpy(dtype=np.int64),
            video=video, videos=videos, annotator=annotator, annotators=annotators, cls=cls, classes=classes,
            file=file, files=files,
        )
    return ctx.cache["arrays"]


def _dense(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Shift integers to start at 0, so they can be one digit of a composite sort key."""
    if len(values) == 0:
        return values, 1
    low = int(values.min())
    return values - low, int(values.max()) - low + 1


def _sort_rows(rows: np.ndarray, parts: list[tuple[np.ndarray, int]]) -> np.ndarray:
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


def _group_ids(order: np.ndarray, parts: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Dense group number per sorted position, groups being runs of equal `parts` (a prefix of the sort key)."""
    new = np.zeros(len(order), dtype=bool)
    if len(order):
        new[0] = True
        for values, _ in parts:
            v = values[order]
            new[1:] |= v[1:] != v[:-1]
    return np.cumsum(new) - 1


def _rank_in_group(gid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each sorted row inside its group, and how many rows of the group follow it."""
    sizes = np.bincount(gid)
    starts = np.cumsum(sizes) - sizes
    rank = np.arange(len(gid)) - starts[gid]
    return rank, sizes[gid] - rank - 1


def _iou(a: _Arrays, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    ix = np.minimum(a.x2[i], a.x2[j]) - np.maximum(a.x1[i], a.x1[j])
    iy = np.minimum(a.y2[i], a.y2[j]) - np.maximum(a.y1[i], a.y1[j])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    area_i = np.clip(a.x2[i] - a.x1[i], 0, None) * np.clip(a.y2[i] - a.y1[i], 0, None)
    area_j = np.clip(a.x2[j] - a.x1[j], 0, None) * np.clip(a.y2[j] - a.y1[j], 0, None)
    union = area_i + area_j - inter
    out = np.zeros(len(i), dtype=np.float64)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def _neighbour_pairs(gid: np.ndarray) -> Iterable[tuple[np.ndarray, int]]:
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
class _FrameLayout:
    """All rows sorted by (video, frame, annotator, class), with the group numbers of each prefix."""

    order: np.ndarray
    frame_gid: np.ndarray  # (video, frame)
    labelling_gid: np.ndarray  # (video, frame, annotator): one annotator's labelling of one frame
    class_gid: np.ndarray  # (video, frame, annotator, class)

    @property
    def labelling_starts(self) -> np.ndarray:
        """Positions (in `order`) where each labelling group begins."""
        gid = self.labelling_gid
        return np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])


def _frame_layout(df: pd.DataFrame, ctx: QcContext) -> _FrameLayout:
    if "frame_layout" not in ctx.cache:
        a = _arrays(df, ctx)
        frame, n_frames = _dense(a.frame)
        video = (a.video, len(a.videos))
        parts = [video, (frame, n_frames), (a.annotator, len(a.annotators)), (a.cls, len(a.classes))]
        order = _sort_rows(np.arange(a.n), parts)
        ctx.cache["frame_layout"] = _FrameLayout(
            order, _group_ids(order, parts[:2]), _group_ids(order, parts[:3]), _group_ids(order, parts)
        )
    return ctx.cache["frame_layout"]


# ---------------------------------------------------------------------------------------------------------------
# Per-row geometry and vocabulary rules (the original contract).


def _image_wh(df: pd.DataFrame, ctx: QcContext) -> tuple[np.ndarray, np.ndarray]:
    # Looked up once per distinct video, then spread by code: unknown sizes are NaN.
    a = _arrays(df, ctx)
    sizes = [ctx.image_sizes.get(v) for v in a.videos]
    w = np.array([np.nan if s is None else float(s[0]) for s in sizes], dtype=np.float64)
    h = np.array([np.nan if s is None else float(s[1]) for s in sizes], dtype=np.float64)
    return w[a.video], h[a.video]


@qc_rule("coordinates_not_finite", ERROR, "a corner is NaN or infinite")
def _coordinates_not_finite(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    a = _arrays(df, ctx)
    return ~(np.isfinite(a.x1) & np.isfinite(a.y1) & np.isfinite(a.x2) & np.isfinite(a.y2))


@qc_rule("box_not_positive", ERROR, "zero or negative width or height")
def _box_not_positive(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    a = _arrays(df, ctx)
    return (a.x2 <= a.x1) | (a.y2 <= a.y1)


@qc_rule("box_outside_image", ERROR, "a corner lies outside the image by more than tolerance_px")
def _box_outside_image(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    # Unknown sizes are NaN here, so those rows compare False and are left to unknown_image_size.
    a = _arrays(df, ctx)
    w, h = _image_wh(df, ctx)
    tol = ctx.tolerance_px
    return (a.x1 < -tol) | (a.y1 < -tol) | (a.x2 > w + tol) | (a.y2 > h + tol)


@qc_rule("unknown_image_size", ERROR, "the video's frame size is unknown, so the box cannot be checked")
def _unknown_image_size(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    a = _arrays(df, ctx)
    known = np.array([v in ctx.image_sizes for v in a.videos], dtype=bool)
    return ~known[a.video]


@qc_rule("unknown_class", ERROR, "the class is not in the taxonomy")
def _unknown_class(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    a = _arrays(df, ctx)
    known = np.array([c in ctx.known_classes for c in a.classes], dtype=bool)
    return ~known[a.cls]


@qc_rule("frame_out_of_range", ERROR, "the frame index is negative or past the last decoded frame")
def _frame_out_of_range(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    # A label on a frame that does not decode (the cut-off tail of a truncated video) can never be trained on.
    a = _arrays(df, ctx)
    counts = np.array([float(ctx.frame_counts.get(v, np.nan)) for v in a.videos], dtype=np.float64)
    return (a.frame < 0) | (a.frame >= counts[a.video])


# ---------------------------------------------------------------------------------------------------------------
# Duplicates: one annotator labelled one object twice in a frame. Two annotators on one frame is double labelling,
# handled by the agreement rule instead.


@qc_rule("duplicate_box", ERROR, "IoU above duplicate_iou with an earlier box of the same class, frame and annotator")
def _duplicate_box(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    a = _arrays(df, ctx)
    layout = _frame_layout(df, ctx)
    hit = np.zeros(a.n, dtype=bool)
    # Sorting is stable, so inside a group the later position is the later row in source order: it is the copy.
    for positions, k in _neighbour_pairs(layout.class_gid):
        first, later = layout.order[positions], layout.order[positions + k]
        hit[later[_iou(a, first, later) > ctx.config.duplicate_iou]] = True
    return hit


# ---------------------------------------------------------------------------------------------------------------
# Tracks: rows with track_id >= 0, one track per (video, annotator, source file, track id), in frame order.


def _group_lower_median(gid: np.ndarray, values: np.ndarray, n_groups: int, default: int) -> np.ndarray:
    """Lower median of integer `values` per group (gid sorted ascending), `default` for groups with none."""
    out = np.full(n_groups, default, dtype=np.int64)
    if len(values) == 0:
        return out
    dense, span = _dense(values)
    ordered = values[np.argsort(gid * span + dense, kind="stable")]
    sizes = np.bincount(gid, minlength=n_groups)
    starts = np.cumsum(sizes) - sizes
    has = sizes > 0
    out[has] = ordered[starts[has] + (sizes[has] - 1) // 2]
    return out


def _majority(gid: np.ndarray, codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Most frequent code per group (gid sorted ascending); a tie goes to the code seen first."""
    pairs, inverse, counts = np.unique(gid * n_codes + codes, return_inverse=True, return_counts=True)
    first_seen = np.full(len(pairs), len(gid), dtype=np.int64)
    np.minimum.at(first_seen, inverse, np.arange(len(gid)))
    group = pairs // n_codes
    ranked = np.lexsort((first_seen, -counts, group))
    winners = ranked[np.r_[True, group[ranked][1:] != group[ranked][:-1]]]
    return pairs[winners] % n_codes  # one per group, in group order


def _track_masks(df: pd.DataFrame, ctx: QcContext) -> dict[str, np.ndarray]:
    if "tracks" in ctx.cache:
        return ctx.cache["tracks"]
    a, cfg = _arrays(df, ctx), ctx.config
    masks = {name: np.zeros(a.n, dtype=bool) for name in ("duplicate", "reused", "gap", "jump")}
    ctx.cache["tracks"] = masks
    rows = np.flatnonzero(a.track >= 0)
    if len(rows) == 0:
        return masks
    track_codes, tracks = pd.factorize(a.track)
    frame, n_frames = _dense(a.frame)
    parts = [(a.video, len(a.videos)), (a.annotator, len(a.annotators)), (a.file, len(a.files)),
             (track_codes.astype(np.int64), len(tracks))]
    order = _sort_rows(rows, [*parts, (frame, n_frames)])
    gid = _group_ids(order, parts)
    starts_at = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
    first_of_track = starts_at[gid]  # sorted position of the track's first box
    has_prev = np.arange(len(order)) != first_of_track

    f = a.frame[order]
    step_frames = np.zeros(len(order), dtype=np.int64)
    step_frames[1:] = f[1:] - f[:-1]
    step_frames[~has_prev] = 0

    # One object cannot be in two places of one frame: the later box of the frame is the error.
    masks["duplicate"][order[has_prev & (step_frames == 0)]] = True

    # A track id that changes class, or comes back after a long absence, names a second object. The track's class
    # is its majority class, so one mislabelled first box does not condemn the rest of the track.
    cls = a.cls[order]
    new_object = has_prev & (step_frames > cfg.reuse_gap_frames)
    segment = np.cumsum(new_object)
    after_reuse = (segment - segment[first_of_track]) > 0
    masks["reused"][order[(cls != _majority(gid, cls, len(a.classes))[gid]) | after_reuse]] = True

    # The track's usual step (its lower median frame step) is normal: CVAT's frame_filter step 3 boxes every 3rd
    # frame. A gap counts the steps missing beyond it.
    moved = has_prev & (step_frames > 0) & (step_frames <= cfg.reuse_gap_frames)
    positive = np.flatnonzero(has_prev & (step_frames > 0))
    usual = _group_lower_median(gid[positive], step_frames[positive], int(gid[-1]) + 1, default=1)
    missing_steps = step_frames / usual[gid] - 1
    masks["gap"][order[moved & (missing_steps > cfg.max_gap_frames)]] = True

    # Centre displacement per frame against the mean diagonal of the two boxes, so a growing box is not a jump.
    p = np.flatnonzero(moved)
    cur, prev = order[p], order[p - 1]
    dx = (a.x1[cur] + a.x2[cur] - a.x1[prev] - a.x2[prev]) / 2
    dy = (a.y1[cur] + a.y2[cur] - a.y1[prev] - a.y2[prev]) / 2
    diagonal = (np.hypot(a.x2[cur] - a.x1[cur], a.y2[cur] - a.y1[cur])
                + np.hypot(a.x2[prev] - a.x1[prev], a.y2[prev] - a.y1[prev])) / 2
    per_frame = np.hypot(dx, dy) / step_frames[p]
    masks["jump"][cur[per_frame > cfg.max_jump * diagonal]] = True
    return masks


@qc_rule("track_duplicate_in_frame", ERROR, "a track has a second box in one frame (the later one is rejected)")
def _track_duplicate_in_frame(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return _track_masks(df, ctx)["duplicate"]


@qc_rule("track_id_reused", ERROR,
         "a box off its track's majority class, or after the track id reappeared past reuse_gap_frames")
def _track_id_reused(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return _track_masks(df, ctx)["reused"]


@qc_rule("track_gap", WARNING, "more than max_gap_frames of the track's own steps missing before this box")
def _track_gap(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return _track_masks(df, ctx)["gap"]


@qc_rule("track_jump", WARNING, "the centre moved more than max_jump box diagonals per frame since the last box")
def _track_jump(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return _track_masks(df, ctx)["jump"]


# ---------------------------------------------------------------------------------------------------------------
# Annotator agreement on frames labelled by two or more annotators.

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
class _Agreement:
    table: pd.DataFrame  # AGREEMENT_COLUMNS
    disagreeing: np.ndarray  # row mask


def _empty_agreement_table() -> pd.DataFrame:
    return pd.DataFrame({
        "annotator_a": pd.Series(dtype=str), "annotator_b": pd.Series(dtype=str), "frames": pd.Series(dtype=np.int64),
        "boxes_a": pd.Series(dtype=np.int64), "boxes_b": pd.Series(dtype=np.int64),
        "matched": pd.Series(dtype=np.int64), "agreement": pd.Series(dtype=np.float64),
    })


def _cross_annotator_matches(a: _Arrays, rows: np.ndarray, frame_gid: np.ndarray, iou_min: float):
    """Greedy matches between boxes of one class on one frame drawn by two annotators.

    Returns (left rows, right rows) of the accepted pairs, left being the annotator with the smaller code.
    """
    n_ann = len(a.annotators)
    frame_of_row = np.zeros(a.n, dtype=np.int64)
    frame_of_row[rows] = frame_gid
    by_class = [(frame_of_row, int(frame_gid[-1]) + 1), (a.cls, len(a.classes))]
    order = _sort_rows(rows, [*by_class, (a.annotator, n_ann)])
    lefts, rights = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for positions, k in _neighbour_pairs(_group_ids(order, by_class)):
        left, right = order[positions], order[positions + k]
        other = a.annotator[left] != a.annotator[right]  # sorted by annotator, so left has the smaller code
        left, right = left[other], right[other]
        close = _iou(a, left, right) >= iou_min
        lefts.append(left[close])
        rights.append(right[close])
    left, right = np.concatenate(lefts), np.concatenate(rights)
    # A box is matched at most once per other annotator: its "end" is (row, the other annotator).
    accepted = _greedy_match(left * n_ann + a.annotator[right], right * n_ann + a.annotator[left], _iou(a, left, right))
    return left[accepted], right[accepted]


def _pair_table(a: _Arrays, frame: np.ndarray, annotator: np.ndarray, boxes: np.ndarray,
                matched_left: np.ndarray, matched_right: np.ndarray) -> pd.DataFrame:
    """Per annotator pair: frames both labelled, each one's boxes on those frames, and matches.

    frame, annotator, boxes: one entry per (frame, annotator) labelling of a shared frame, sorted by frame.
    """
    n_ann = len(a.annotators)
    codes, boxes_a, boxes_b = [], [], []
    for positions, k in _neighbour_pairs(frame):
        codes.append(annotator[positions] * n_ann + annotator[positions + k])
        boxes_a.append(boxes[positions])
        boxes_b.append(boxes[positions + k])
    code, size = np.concatenate(codes), n_ann * n_ann
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


def _agreement(df: pd.DataFrame, ctx: QcContext) -> _Agreement:
    if "agreement" in ctx.cache:
        return ctx.cache["agreement"]
    a, layout = _arrays(df, ctx), _frame_layout(df, ctx)
    result = _Agreement(_empty_agreement_table(), np.zeros(a.n, dtype=bool))
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
    ctx.cache["agreement"] = result = _Agreement(table, result.disagreeing)
    return result


@qc_rule("annotator_disagreement", WARNING, "on a frame labelled twice, another annotator has no box matching this one")
def _annotator_disagreement(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return _agreement(df, ctx).disagreeing


# ---------------------------------------------------------------------------------------------------------------
# Metadata the source declared, checked against the boxes.


@qc_rule("area_mismatch", WARNING, "the declared area disagrees with the box (beyond area_tolerance)")
def _area_mismatch(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    a = _arrays(df, ctx)
    hit = np.zeros(a.n, dtype=bool)
    declared = df["declared_area"].to_numpy(dtype=np.float64)
    rows = np.flatnonzero(np.isfinite(declared))
    if len(rows) == 0:
        return hit
    tol = ctx.config.area_tolerance
    area = np.clip(a.x2[rows] - a.x1[rows], 0, None) * np.clip(a.y2[rows] - a.y1[rows], 0, None)
    declared = declared[rows]
    # A segmentation's area may be anything up to its box; without one the area is the box's own.
    segmented = df["attributes"].iloc[rows].astype(str).str.contains(_SEGMENTATION).to_numpy(dtype=bool)
    larger_than_box = declared > area * (1 + tol)
    off = ~segmented & (np.abs(declared - area) > tol * area)
    hit[rows[larger_than_box | off]] = True
    return hit


@qc_rule("class_id_off_by_one", ERROR, "a file's class ids run 1..n against n names: every class is shifted by one")
def _class_id_off_by_one(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    # Only formats whose id is a position in the names list: COCO category ids and MOT classes are 1-based by design.
    a = _arrays(df, ctx)
    hit = np.zeros(a.n, dtype=bool)
    n_names = len(ctx.class_names)
    if a.n == 0 or n_names == 0:
        return hit
    fmt, formats = _codes(df["source_format"])
    indexed = np.isin(formats, list(ctx.config.id_indexed_formats))
    ids = df["class_id"].to_numpy(dtype=np.int64)
    rows = np.flatnonzero(indexed[fmt] & (ids >= 0))
    if len(rows) == 0:
        return hit
    # A YOLO dataset is one txt per frame: ids are judged over the whole dataset (source_file "<root>/labels/..."),
    # since a single frame rarely holds every class.
    root_of_file, datasets = _codes(pd.Series([str(f).split("/", 1)[0] for f in a.files], dtype=object))
    dataset = root_of_file[a.file] if len(root_of_file) else np.zeros(a.n, dtype=np.int64)
    low = np.full(len(datasets), np.iinfo(np.int64).max)
    high = np.full(len(datasets), -1)
    np.minimum.at(low, dataset[rows], ids[rows])
    np.maximum.at(high, dataset[rows], ids[rows])
    shifted = (low >= 1) & (high == n_names)
    hit[rows[shifted[dataset[rows]]]] = True
    return hit


@qc_rule("absolute_path_in_data_yaml", WARNING, "the file's data yaml names an absolute path (not portable)")
def _absolute_path_in_data_yaml(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    codes, findings = _codes(df["file_findings"].fillna("").astype(str))
    found = np.array(["absolute_path_in_data_yaml" in str(f).split(";") for f in findings], dtype=bool)
    return found[codes] if len(codes) else np.zeros(0, dtype=bool)


# ---------------------------------------------------------------------------------------------------------------
# Spot-check sampling.

REVIEW_COLUMNS = ["annotator", "video_sha256", "frame_index", "source_file"]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-spread, platform-independent hash of uint64 values."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _review_sample(df: pd.DataFrame, ctx: QcContext) -> pd.DataFrame:
    """The frames a human should re-check: a hash-drawn share of each annotator's frames, at least one each.

    Hashing (seed, annotator, video, frame) rather than drawing at random makes the sample reproducible, and a frame
    stays drawn when more frames arrive; the lowest hashes per annotator are taken.
    """
    a, layout = _arrays(df, ctx), _frame_layout(df, ctx)
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


# ---------------------------------------------------------------------------------------------------------------
# Running the rules.


@dataclass(frozen=True)
class QcResult:
    kept: pd.DataFrame  # ANNOTATION_COLUMNS, original index preserved; includes flagged rows
    rejected: pd.DataFrame  # ANNOTATION_COLUMNS + "reasons" (error rules), original index preserved
    rule_counts: dict[str, int]  # rule -> rows it hit (a row may count under several rules)
    flagged: pd.DataFrame = field(default_factory=pd.DataFrame)  # kept rows + "reasons" (warning rules)
    severities: dict[str, str] = field(default_factory=dict)  # rule -> severity it ran with
    agreement: pd.DataFrame = field(default_factory=pd.DataFrame)  # AGREEMENT_COLUMNS, one row per annotator pair
    review: pd.DataFrame = field(default_factory=pd.DataFrame)  # REVIEW_COLUMNS: frames drawn for a spot check

    @property
    def total(self) -> int:
        return len(self.kept) + len(self.rejected)

    @property
    def pass_rate(self) -> float:
        return len(self.kept) / self.total if self.total else 1.0


def _as_rule(item: QcRule | tuple) -> QcRule:
    # (name, check) pairs are the older registry's shape; they keep working, as errors.
    if isinstance(item, QcRule):
        return item
    name, check, *severity = item
    return QcRule(name, severity[0] if severity else ERROR, check)


def _with_reasons(rows: pd.DataFrame, at: np.ndarray, masks: dict[str, np.ndarray]) -> pd.DataFrame:
    """rows.iloc[at] plus ";"-joined names of the rules in `masks` that hit each row.

    Built only for the rows that need them: usually a small share of a large table.
    """
    reasons = np.full(len(at), "", dtype=object)
    for name, mask in masks.items():
        hit = mask[at]
        reasons[hit] = np.where(reasons[hit] == "", name, reasons[hit] + ";" + name)
    picked = rows.iloc[at]
    # Positional, not by label: a table concatenated without ignore_index may repeat index labels.
    return picked.assign(reasons=pd.array(reasons, dtype="str") if len(at) else pd.array([], dtype="str"))


def run_qc(
    df: pd.DataFrame,
    image_sizes: dict[str, tuple[int, int]],
    known_classes: Iterable[str],
    *,
    tolerance_px: float | None = None,
    frame_counts: dict[str, int] | None = None,
    rules: list[QcRule | tuple] | None = None,
    config: QcConfig | None = None,
) -> QcResult:
    """Run every rule; error rules reject rows, warning rules flag them; plus agreement and a review sample.

    - rejected["reasons"] names the error rules a row broke; flagged["reasons"] the warning rules a kept row hit.
      A warning on a rejected row shows only in rule_counts, which counts every row a rule hit.
    - Every rule sees every row: a duplicate of an out-of-image box is still a duplicate, and agreement is measured
      on what the annotators drew, before QC removed anything.
    - known_classes' order is the names list class ids index (class_id_off_by_one), unless config.class_names.
    - tolerance_px, when given, overrides config.tolerance_px. Rows marked {"ignore": true} get no special
      treatment: they pass unless a rule hits them.
    """
    missing = [c for c in ANNOTATION_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"run_qc: missing annotation columns {missing}")
    config = config or QcConfig()
    if tolerance_px is not None:
        config = replace(config, tolerance_px=float(tolerance_px))
    bad = {name: s for name, s in config.severities.items() if s not in SEVERITIES}
    if bad:
        raise ValueError(f"run_qc: severities must be one of {SEVERITIES}: {bad}")
    known = list(dict.fromkeys(known_classes))
    ctx = QcContext(dict(image_sizes), frozenset(known), float(config.tolerance_px), dict(frame_counts or {}),
                    config, tuple(config.class_names) if config.class_names is not None else tuple(known))
    rows = df[ANNOTATION_COLUMNS]
    active = [r for r in map(_as_rule, RULES if rules is None else rules) if r.name not in config.disabled]
    severities = {r.name: config.severities.get(r.name, r.severity) for r in active}
    # Non-finite corners are their own rule; elsewhere they make NaN, which compares False: no warnings needed.
    with np.errstate(invalid="ignore", divide="ignore"):
        masks = {r.name: np.asarray(r.check(rows, ctx), dtype=bool) for r in active}

    errors = {name: m for name, m in masks.items() if severities[name] == ERROR}
    warnings = {name: m for name, m in masks.items() if severities[name] == WARNING}
    failed = np.zeros(len(rows), dtype=bool)
    for mask in errors.values():
        failed |= mask
    warned = np.zeros(len(rows), dtype=bool)
    for mask in warnings.values():
        warned |= mask
    warned &= ~failed

    rejected_at, flagged_at = np.flatnonzero(failed), np.flatnonzero(warned)
    return QcResult(
        kept=rows[~failed],
        rejected=_with_reasons(rows, rejected_at, errors),
        flagged=_with_reasons(rows, flagged_at, warnings),
        rule_counts={name: int(mask.sum()) for name, mask in masks.items()},
        severities=severities,
        agreement=_agreement(rows, ctx).table,
        review=_review_sample(rows, ctx),
    )


def summarise(result: QcResult, sample_size: int = 3) -> pd.DataFrame:
    """One row per rule: severity, rows hit, share of all rows and a few example rows, for a dashboard."""
    listed = pd.concat([result.rejected, result.flagged])
    hits = listed[["source_file", "source_id", "reasons"]].assign(rule=listed["reasons"].str.split(";")).explode("rule")
    examples = (hits.groupby("rule", sort=False).head(sample_size)
                .assign(example=lambda t: t["source_file"].astype(str) + "#" + t["source_id"].astype(str))
                .groupby("rule", sort=False)["example"].agg(", ".join))
    total = result.total
    return pd.DataFrame({
        "rule": list(result.rule_counts),
        "severity": [result.severities.get(name, ERROR) for name in result.rule_counts],
        "rows": list(result.rule_counts.values()),
        "share": [count / total if total else 0.0 for count in result.rule_counts.values()],
        "sample": [examples.get(name, "") for name in result.rule_counts],
    })
