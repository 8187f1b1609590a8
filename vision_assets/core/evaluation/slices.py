"""Detection metrics per slice of the test split, each row saying how much it can be trusted.

Two kinds of slice:
- image slices (scene, day, lighting, weather, any other sidecar field): the images with that value, evaluated
  exactly as if only they had been given;
- box slices: COCO size (small / medium / large, COCOeval's own area ranges), occlusion (occluded / visible: the
  other boxes become ignore regions, so a detection of a visible object neither helps nor hurts the occluded
  slice) and class (one category of the same COCOeval run).

Not every image field is a slice: a field with more than MAX_SLICE_VALUES distinct values (an identifier, free
text) or with a value longer than MAX_SLICE_VALUE_CHARS is left out (slice_dimensions says which and why), so a
note typed into a sidecar never becomes a hundred one-video "slices" nor a 50 MB row of the report.

Every row carries its image and box counts, `too_few` (fewer boxes than `min_boxes`: the numbers are noise) and
`confounded_with`: the image slices of other dimensions that cover exactly the same images, so "day" and
"cam-north" being the same footage is said instead of silently measured twice. Box slices are never confounded
(they share images by design, not by accident of the footage).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vision_assets.core.evaluation.metrics import (
    IMAGE_COLUMNS,
    coco_breakdown,
    evaluate_detections,
)
from vision_assets.core.geometry import area
from vision_assets.core.numbers import json_ready

SLICE_COLUMNS = ["dimension", "value", "n_images", "n_boxes", "map50_95", "map50", "map75", "precision", "recall",
                 "too_few", "confounded_with"]
OVERALL = "all"
UNKNOWN = "unknown"
SIZE, OCCLUSION, CLASS = "size", "occlusion", "class"
# COCOeval's area ranges; an area exactly on a bound counts in both ranges, as COCOeval counts it.
AREA_RANGES = {"small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}
DEFAULT_MIN_BOXES = 20
MAX_SLICE_VALUES = 50
MAX_SLICE_VALUE_CHARS = 100
# Partition keys: as many values as the footage has scenes and days, each a slice by design.
_PARTITION_DIMENSIONS = ("scene", "day")


def image_dimensions(images: pd.DataFrame) -> list[str]:
    """The slice columns of an images table: everything but the image id and size, in table order, less the
    fields that are not slices (see slice_dimensions)."""
    return slice_dimensions(images)[0]


def slice_dimensions(images: pd.DataFrame, dimensions: Sequence[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """(the dimensions to slice by, {field: why it is not a slice}) among `dimensions` (default: every image field)."""
    if dimensions is None:
        dimensions = [c for c in images.columns if c not in IMAGE_COLUMNS and c not in ("image_path", "file_name")]
    kept, skipped = [], {}
    for dimension in dimensions:
        values = _values(images[dimension])
        longest = int(values.str.len().max()) if len(values) else 0
        distinct = values.nunique()
        if longest > MAX_SLICE_VALUE_CHARS:
            skipped[dimension] = f"a value of {longest:,} characters (over {MAX_SLICE_VALUE_CHARS}): free text"
        elif distinct > MAX_SLICE_VALUES and dimension not in _PARTITION_DIMENSIONS:
            skipped[dimension] = f"{distinct:,} distinct values (over {MAX_SLICE_VALUES}): an identifier or free text"
        else:
            kept.append(dimension)
    return kept, skipped


def slice_table(ground_truth: pd.DataFrame, detections: pd.DataFrame, *, images: pd.DataFrame,
                class_names: Sequence[str], dimensions: Sequence[str] | None = None,
                score_threshold: float = 0.25, min_boxes: int = DEFAULT_MIN_BOXES) -> pd.DataFrame:
    """SLICE_COLUMNS rows: the overall row, each image slice, size, occlusion (when ground truth has an
    `occluded` column) and class. Precision and recall are at IoU 0.5 and score >= score_threshold. Fields that are
    not slices (slice_dimensions) are left out, and named with the reason in table.attrs["not_sliced"]."""
    dimensions, not_sliced = slice_dimensions(images, dimensions)
    images = images.assign(**{d: _values(images[d]) for d in dimensions})
    gt = ground_truth.reset_index(drop=True)
    rows = [_row(OVERALL, OVERALL, images["image_id"], len(gt),
                 evaluate_detections(gt, detections, images=images, class_names=class_names,
                                     score_threshold=score_threshold).as_dict())]
    for dimension in dimensions:
        for value, subset in images.groupby(dimension, sort=True):
            ids = set(subset["image_id"].astype(str))
            g, d = _on(gt, ids), _on(detections, ids)
            metrics = evaluate_detections(g, d, images=subset, class_names=class_names,
                                          score_threshold=score_threshold).as_dict()
            rows.append(_row(dimension, str(value), subset["image_id"], len(g), metrics))
    rows += _size_and_class_rows(gt, detections, images, class_names, score_threshold)
    rows += _occlusion_rows(gt, detections, images, class_names, score_threshold)
    table = pd.DataFrame(rows, columns=[c for c in SLICE_COLUMNS if c != "confounded_with"] + ["image_set"])
    table["too_few"] = table["n_boxes"] < min_boxes
    table["confounded_with"] = _confounded(table, set(dimensions))
    table = table.drop(columns="image_set")[SLICE_COLUMNS]
    table.attrs["not_sliced"] = not_sliced
    return table


def slice_records(table: pd.DataFrame) -> list[dict]:
    """JSON-ready rows (NaN becomes None)."""
    return json_ready(table.astype(object).to_dict("records"))


def _values(column: pd.Series) -> pd.Series:
    text = column.astype(object).where(column.notna(), "").astype(str).str.strip()
    return text.where(text != "", UNKNOWN)


def _on(df: pd.DataFrame, ids: set[str]) -> pd.DataFrame:
    return df[df["image_id"].astype(str).isin(ids)] if len(df) else df


def _row(dimension: str, value: str, image_ids, n_boxes: int, metrics: dict) -> dict:
    ids = frozenset(map(str, image_ids))
    return {"dimension": dimension, "value": value, "n_images": len(ids), "n_boxes": int(n_boxes),
            **{k: _float(metrics.get(k)) for k in ("map50_95", "map50", "map75", "precision", "recall")},
            "image_set": ids}


def _float(value) -> float:
    return float("nan") if value is None else float(value)


def _box_areas(gt: pd.DataFrame) -> np.ndarray:
    computed = area(*(gt[c].to_numpy(dtype=float) for c in ("x1", "y1", "x2", "y2")))
    if "area" in gt.columns:
        given = gt["area"].to_numpy(dtype=float)
        computed = np.where(np.isnan(given), computed, given)
    return computed


def _size_and_class_rows(gt, detections, images, class_names, score_threshold) -> list[dict]:
    breakdown = coco_breakdown(gt, detections, images=images, class_names=class_names,
                               score_threshold=score_threshold)
    crowd = gt["iscrowd"].fillna(0).astype(bool).to_numpy() if "iscrowd" in gt.columns else np.zeros(len(gt), bool)
    areas = _box_areas(gt) if len(gt) else np.zeros(0)
    rows = []
    for label, (lo, hi) in AREA_RANGES.items():
        inside = (areas >= lo) & (areas <= hi) & ~crowd
        rows.append(_row(SIZE, label, gt.loc[inside, "image_id"] if len(gt) else [], int(inside.sum()),
                         breakdown["areas"][label]))
    for name in class_names:
        of_class = (gt["class_name"] == name).to_numpy() & ~crowd if len(gt) else np.zeros(0, bool)
        rows.append(_row(CLASS, name, gt.loc[of_class, "image_id"] if len(gt) else [], int(of_class.sum()),
                         breakdown["classes"][name]))
    return rows


def _occlusion_rows(gt, detections, images, class_names, score_threshold) -> list[dict]:
    if not len(gt) or "occluded" not in gt.columns:
        return []
    occluded = gt["occluded"].fillna(False).astype(bool).to_numpy()
    rows = []
    for value, members in (("occluded", occluded), ("visible", ~occluded)):
        ids = set(gt.loc[members, "image_id"].astype(str))
        if not ids:
            rows.append(_row(OCCLUSION, value, [], 0, {}))
            continue
        # The other boxes become ignore regions (COCO's crowd): matching them costs and earns nothing.
        ignore = gt.get("iscrowd", pd.Series(0, index=gt.index)).fillna(0).astype(bool) | ~pd.Series(members, gt.index)
        g = _on(gt.assign(iscrowd=ignore.astype(int)), ids)
        subset = images[images["image_id"].astype(str).isin(ids)]
        metrics = evaluate_detections(g, _on(detections, ids), images=subset, class_names=class_names,
                                      score_threshold=score_threshold).as_dict()
        rows.append(_row(OCCLUSION, value, ids, int(members.sum()), metrics))
    return rows


def _confounded(table: pd.DataFrame, image_dimensions_: set[str]) -> list[list[str]]:
    """For each image-slice row, the image slices of other dimensions with exactly its images."""
    slices = [(r.dimension, r.value, r.image_set) for r in table.itertuples()
              if r.dimension in image_dimensions_ and r.image_set]
    out = []
    for r in table.itertuples():
        if r.dimension not in image_dimensions_ or not r.image_set:
            out.append([])
            continue
        out.append(sorted(f"{d}={v}" for d, v, ids in slices if d != r.dimension and ids == r.image_set))
    return out
