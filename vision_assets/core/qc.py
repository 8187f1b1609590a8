"""Basic quality checks on canonical annotation rows, as a registry of small vectorised rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vision_assets.core.schema import ANNOTATION_COLUMNS

_BOX = ["x1", "y1", "x2", "y2"]


@dataclass(frozen=True)
class QcContext:
    image_sizes: dict[str, tuple[int, int]]  # video_sha256 -> (width, height)
    known_classes: frozenset[str]
    tolerance_px: float
    frame_counts: dict[str, int] = field(default_factory=dict)  # video_sha256 -> decoded frames


# A rule returns a boolean mask of the rows that violate it.
Rule = Callable[[pd.DataFrame, QcContext], np.ndarray]


def _coordinates_not_finite(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return ~np.isfinite(df[_BOX].to_numpy(dtype=float)).all(axis=1)


def _box_not_positive(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return ((df["x2"] <= df["x1"]) | (df["y2"] <= df["y1"])).to_numpy()


def _image_wh(df: pd.DataFrame, ctx: QcContext) -> tuple[pd.Series, pd.Series]:
    vid = df["video_sha256"]
    w = vid.map({k: float(v[0]) for k, v in ctx.image_sizes.items()}).astype(float)
    h = vid.map({k: float(v[1]) for k, v in ctx.image_sizes.items()}).astype(float)
    return w, h


def _box_outside_image(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    # Unknown sizes are NaN here, so those rows compare False and are left to unknown_image_size.
    w, h = _image_wh(df, ctx)
    tol = ctx.tolerance_px
    return (
        (df["x1"] < -tol) | (df["y1"] < -tol) | (df["x2"] > w + tol) | (df["y2"] > h + tol)
    ).to_numpy()


def _unknown_image_size(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return ~df["video_sha256"].isin(list(ctx.image_sizes)).to_numpy()


def _unknown_class(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    return ~df["class_name"].isin(list(ctx.known_classes)).to_numpy()


def _frame_out_of_range(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    # A label on a frame that does not decode (the cut-off tail of a truncated video) can never be trained on.
    count = df["video_sha256"].map(ctx.frame_counts).astype(float)
    return ((df["frame_index"] < 0) | (df["frame_index"] >= count)).to_numpy()


# Order here is the order of names in a row's "reasons". New rules append; names are a contract.
RULES: list[tuple[str, Rule]] = [
    ("coordinates_not_finite", _coordinates_not_finite),
    ("box_not_positive", _box_not_positive),
    ("box_outside_image", _box_outside_image),
    ("unknown_image_size", _unknown_image_size),
    ("unknown_class", _unknown_class),
    ("frame_out_of_range", _frame_out_of_range),
]


@dataclass(frozen=True)
class QcResult:
    kept: pd.DataFrame  # ANNOTATION_COLUMNS, original index preserved
    rejected: pd.DataFrame  # ANNOTATION_COLUMNS + "reasons", original index preserved
    rule_counts: dict[str, int]

    @property
    def pass_rate(self) -> float:
        total = len(self.kept) + len(self.rejected)
        return len(self.kept) / total if total else 1.0


def run_qc(
    df: pd.DataFrame,
    image_sizes: dict[str, tuple[int, int]],
    known_classes: Iterable[str],
    *,
    tolerance_px: float = 0.5,
    frame_counts: dict[str, int] | None = None,
    rules: list[tuple[str, Rule]] | None = None,
) -> QcResult:
    """Split rows into kept and rejected; a row is rejected if any rule flags it.

    Rows marked {"ignore": true} get no special treatment: they pass unless a rule flags them.
    """
    missing = [c for c in ANNOTATION_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"run_qc: missing annotation columns {missing}")
    rules = RULES if rules is None else rules
    ctx = QcContext(dict(image_sizes), frozenset(known_classes), float(tolerance_px), dict(frame_counts or {}))
    rows = df[ANNOTATION_COLUMNS]

    masks = {name: np.asarray(rule(rows, ctx), dtype=bool) for name, rule in rules}
    failed = np.zeros(len(rows), dtype=bool)
    for mask in masks.values():
        failed |= mask

    # Build reason strings only for rejected rows: usually a small fraction of a large table.
    reasons = pd.Series("", index=rows.index[failed], dtype=object)
    for name, mask in masks.items():
        hit = mask[failed]
        reasons[hit] = np.where(reasons[hit] == "", name, reasons[hit] + ";" + name)

    return QcResult(
        kept=rows[~failed],
        rejected=rows[failed].assign(reasons=reasons.astype(str)),
        rule_counts={name: int(mask.sum()) for name, mask in masks.items()},
    )
