"""The overlap rules (duplicate_box, annotator agreement) sweep instead of comparing every pair of a frame: same
results as the all-pairs comparison they replace, on random tables with crowds, copies and broken boxes, and
candidate pairs that grow with the boxes that nearly coincide, not with the square of a frame's boxes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vision_assets.core.labels import ANNOTATION_COLUMNS, ANNOTATION_DEFAULTS, ANNOTATION_DTYPES
from vision_assets.core.qc import arrays
from vision_assets.core.qc.agreement import _greedy_match
from vision_assets.core.qc.arrays import (
    frame_layout,
    group_ids,
    neighbour_pairs,
    overlap_candidates,
    row_arrays,
    rows_iou,
    sort_rows,
)
from vision_assets.core.qc.engine import QcConfig, QcContext, run_qc

SIZES = {"v1": (200, 100), "v2": (200, 100)}
CLASSES = ["car", "pedestrian"]


def random_table(seed: int, n: int = 600) -> pd.DataFrame:
    """Boxes on a few frames of two videos by three annotators: clusters of near copies, jittered re-labellings,
    and a share of broken boxes (NaN, infinite, zero or negative size)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 200, (n // 4, 2))
    pick = rng.integers(0, len(centres), n)
    cx, cy = centres[pick, 0] + rng.normal(0, rng.choice([0.2, 2, 8]), n), centres[pick, 1] + rng.normal(0, 2, n)
    w, h = rng.uniform(1, 40, n), rng.uniform(1, 40, n)
    x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    broken = rng.random(n)
    x2 = np.where(broken < 0.02, np.nan, x2)
    x1 = np.where((broken >= 0.02) & (broken < 0.04), -np.inf, x1)
    y2 = np.where((broken >= 0.04) & (broken < 0.06), y1, y2)
    x2 = np.where((broken >= 0.06) & (broken < 0.08), x1 - 3, x2)
    df = pd.DataFrame({
        "video_sha256": rng.choice(["v1", "v2"], n), "frame_index": rng.integers(0, 3, n),
        "class_name": rng.choice(CLASSES, n), "x1": x1, "y1": y1, "x2": x2, "y2": y2,
        "annotator": rng.choice(["ann", "bob", "cat"], n), "source_file": "f.json", "source_id": np.arange(n).astype(str),
    })
    copies = df.sample(n=n // 10, random_state=seed)  # one annotator's box drawn twice, a hair apart
    copies[["x1", "x2"]] += rng.uniform(-0.3, 0.3, (len(copies), 1))
    relabelled = df.sample(n=n // 10, random_state=seed + 1)  # and by another annotator, a little off
    relabelled[["x1", "x2"]] += rng.uniform(-2, 2, (len(relabelled), 1))
    relabelled["annotator"] = relabelled["annotator"].map({"ann": "bob", "bob": "cat", "cat": "ann"})
    copies = pd.concat([copies, relabelled])
    df = pd.concat([df, copies], ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    df["source_id"] = np.arange(len(df)).astype(str)
    for column, default in ANNOTATION_DEFAULTS.items():
        if column not in df:
            df[column] = default
    return df[ANNOTATION_COLUMNS].astype(ANNOTATION_DTYPES)


def context(df: pd.DataFrame, **config) -> QcContext:
    cfg = QcConfig(**config)
    return QcContext(SIZES, frozenset(CLASSES), cfg.tolerance_px, {}, cfg, tuple(CLASSES))


def all_pairs_duplicates(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    """The duplicate_box rule as it was: every pair of boxes of a (video, frame, annotator, class) group."""
    a, layout = row_arrays(df, ctx), frame_layout(df, ctx)
    hit = np.zeros(a.n, dtype=bool)
    for positions, k in neighbour_pairs(layout.class_gid):
        first, later = layout.order[positions], layout.order[positions + k]
        hit[later[rows_iou(a, first, later) > ctx.config.duplicate_iou]] = True
    return hit


def all_pairs_matches(df: pd.DataFrame, ctx: QcContext) -> set[tuple[int, int]]:
    """The agreement matching as it was: every cross-annotator pair of a (frame, class) group, greedy by IoU."""
    a, layout = row_arrays(df, ctx), frame_layout(df, ctx)
    rows, frame_gid = layout.order, layout.frame_gid
    n_ann = len(a.annotators)
    frame_of_row = np.zeros(a.n, dtype=np.int64)
    frame_of_row[rows] = frame_gid
    by_class = [(frame_of_row, int(frame_gid[-1]) + 1), (a.cls, len(a.classes))]
    order = sort_rows(rows, [*by_class, (a.annotator, n_ann)])
    lefts, rights = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for positions, k in neighbour_pairs(group_ids(order, by_class)):
        left, right = order[positions], order[positions + k]
        other = a.annotator[left] != a.annotator[right]
        left, right = left[other], right[other]
        close = rows_iou(a, left, right) >= ctx.config.agreement_iou
        lefts.append(left[close])
        rights.append(right[close])
    left, right = np.concatenate(lefts), np.concatenate(rights)
    accepted = _greedy_match(left * n_ann + a.annotator[right], right * n_ann + a.annotator[left],
                             rows_iou(a, left, right))
    return set(zip(left[accepted].tolist(), right[accepted].tolist()))


@pytest.fixture(params=["grid", "pairs"])
def path(request, monkeypatch):
    """Both ways candidates are found: the grid (every group, here) and all pairs (groups up to ALL_PAIRS_UP_TO)."""
    monkeypatch.setattr(arrays, "ALL_PAIRS_UP_TO", 1 if request.param == "grid" else 10_000)
    return request.param


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_duplicate_box_equals_the_all_pairs_comparison(seed, threshold, path):
    df = random_table(seed)
    ctx = context(df, duplicate_iou=threshold)
    expected = all_pairs_duplicates(df, ctx)
    result = run_qc(df, SIZES, CLASSES, config=QcConfig(duplicate_iou=threshold))
    got = np.zeros(len(df), dtype=bool)
    rejected = result.rejected
    got[df.index.get_indexer(rejected.index[rejected["reasons"].str.contains("duplicate_box")])] = True
    assert expected.any() or threshold == 1.0  # the tables do hold duplicates
    assert np.array_equal(got, expected)
    assert result.rule_counts["duplicate_box"] == int(expected.sum())


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.5, 0.8])
def test_annotator_agreement_equals_the_all_pairs_matching(seed, threshold, path):
    df = random_table(seed)
    from vision_assets.core.qc.agreement import annotator_agreement

    expected = all_pairs_matches(df, context(df, agreement_iou=threshold))
    ctx = context(df, agreement_iou=threshold)
    a = row_arrays(df, ctx)
    agreement = annotator_agreement(df, ctx)
    assert len(expected) > 0
    n_ann = len(a.annotators)
    matched = np.bincount([a.annotator[i] * n_ann + a.annotator[j] for i, j in expected], minlength=n_ann * n_ann)
    table = agreement.table
    got = dict(zip(zip(table["annotator_a"], table["annotator_b"]), table["matched"]))
    want = {(str(a.annotators[c // n_ann]), str(a.annotators[c % n_ann])): int(m) for c, m in enumerate(matched)
            if (str(a.annotators[c // n_ann]), str(a.annotators[c % n_ann])) in got}
    assert got == want
    assert sum(got.values()) == len(expected)


def test_a_crowded_frame_costs_the_near_pairs_not_the_square():
    """8,000 boxes on one image: the sweep looks at a few candidates per box, not 32 million pairs."""
    rng = np.random.default_rng(0)
    n = 8_000
    x1, y1 = rng.uniform(0, 1900, n), rng.uniform(0, 1060, n)
    w, h = rng.uniform(10, 60, n), rng.uniform(10, 60, n)
    df = pd.DataFrame({"video_sha256": "v1", "frame_index": 0, "class_name": "car", "x1": x1, "y1": y1,
                       "x2": x1 + w, "y2": y1 + h, "annotator": "", "source_file": "crowd.json",
                       "source_id": np.arange(n).astype(str)})
    for column, default in ANNOTATION_DEFAULTS.items():
        if column not in df:
            df[column] = default
    df = df[ANNOTATION_COLUMNS].astype(ANNOTATION_DTYPES)
    ctx = context(df)
    layout = frame_layout(df, ctx)
    pairs = sum(len(i) for i, _ in overlap_candidates(row_arrays(df, ctx), layout.order, layout.class_gid, 0.9))
    assert pairs < 10 * n
    rejected = run_qc(df, {"v1": (2000, 1200)}, CLASSES).rejected
    duplicates = rejected.index[rejected["reasons"].str.contains("duplicate_box")].to_numpy()
    assert np.array_equal(duplicates, np.flatnonzero(all_pairs_duplicates(df, context(df))))
