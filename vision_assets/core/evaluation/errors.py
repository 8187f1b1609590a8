"""Every detection error on every image, each named by what went wrong (after TIDE's error kinds).

Tables are those of metrics.py. First detections are matched to ground truth as the curves match them
(curves.match_detections: same class, IoU >= 0.5, greedy by score); matched detections are correct and
produce no row. Each unmatched detection is then, checking in this order:
- duplicate:        IoU >= 0.5 with a same-class ground truth that another detection already matched
- class_confusion:  IoU >= 0.5 with a ground truth of another class
- localisation:     0.1 <= IoU < 0.5 with a same-class ground truth
- false_positive:   none of those (background)
Each ground truth no detection matched is a false_negative, unless a localisation or class-confusion row
already points at it: then that row is the explanation, and the mistake is listed once, not twice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vision_assets.core.evaluation.curves import BOX, box_iou, by_score, match_detections

FALSE_NEGATIVE = "false_negative"
FALSE_POSITIVE = "false_positive"
LOCALISATION = "localisation"
CLASS_CONFUSION = "class_confusion"
DUPLICATE = "duplicate"
ERROR_KINDS = (FALSE_NEGATIVE, FALSE_POSITIVE, LOCALISATION, CLASS_CONFUSION, DUPLICATE)

# The detection's class and score; the ground truth's class; the IoU between the two boxes (for a false positive
# its best IoU with any ground truth, for a false negative its best with any detection); both boxes (NaN if absent).
ERROR_COLUMNS = [
    "image_id", "kind", "class_name", "gt_class_name", "score", "iou",
    "det_x1", "det_y1", "det_x2", "det_y2", "gt_x1", "gt_y1", "gt_x2", "gt_y2",
]  # fmt: skip

MATCH_IOU = 0.5
LOCALISATION_MIN_IOU = 0.1


def classify_errors(
    ground_truth: pd.DataFrame, detections: pd.DataFrame, *, score_threshold: float = 0.0
) -> pd.DataFrame:
    """One row per error (ERROR_COLUMNS), over detections scoring >= score_threshold.

    Rows are grouped by image (in first-seen order), detection errors in descending score, then misses.
    """
    dets = detections[detections["score"] >= score_threshold] if len(detections) else detections
    gt = ground_truth.reset_index(drop=True)
    matched = match_detections(gt, dets, iou_threshold=MATCH_IOU)
    seen = [*(gt["image_id"] if len(gt) else []), *(matched["image_id"] if len(matched) else [])]
    image_ids = list(dict.fromkeys(seen))  # first-seen order, each once
    rows: list[dict] = []
    for image_id in image_ids:
        g = gt[gt["image_id"] == image_id] if len(gt) else gt
        d = by_score(matched[matched["image_id"] == image_id]) if len(matched) else matched
        rows.extend(_image_errors(image_id, g, d))
    return pd.DataFrame(rows, columns=ERROR_COLUMNS)


def error_counts(errors: pd.DataFrame) -> dict[str, int]:
    """How many errors of each kind (every kind present, 0 when none)."""
    counts = errors["kind"].value_counts() if len(errors) else pd.Series(dtype=int)
    return {kind: int(counts.get(kind, 0)) for kind in ERROR_KINDS}


def _image_errors(image_id, gt: pd.DataFrame, dets: pd.DataFrame) -> list[dict]:
    """Errors on one image; `gt` keeps its row positions as index (match_detections' gt_row refers to them)."""
    has_gt, has_dets = len(gt) > 0, len(dets) > 0
    iou = np.zeros((len(dets), len(gt)))
    if has_gt and has_dets:
        iou = box_iou(dets[BOX].to_numpy(), gt[BOX].to_numpy())
    gt_rows = gt.index.to_numpy()
    gt_classes = gt["class_name"].to_numpy() if has_gt else np.empty(0, dtype=object)
    matched_gt = set(dets.loc[dets["tp"], "gt_row"].tolist()) if has_dets else set()
    explained: set[int] = set()
    rows = []
    for i, det in enumerate(dets.itertuples(index=False)):
        if det.tp:
            continue
        kind, j = _detection_error(iou[i], gt_classes == det.class_name, np.isin(gt_rows, list(matched_gt)))
        if kind in (LOCALISATION, CLASS_CONFUSION):
            explained.add(int(gt_rows[j]))
        best = float(iou[i].max()) if len(gt_rows) else 0.0
        target = gt.iloc[j] if j is not None else None
        rows.append(_row(image_id, kind, det, target, float(iou[i, j]) if j is not None else best))
    for j, row in enumerate(gt_rows):
        if row in matched_gt or row in explained:
            continue
        best = float(iou[:, j].max()) if has_dets else 0.0
        rows.append(_row(image_id, FALSE_NEGATIVE, None, gt.iloc[j], best))
    return rows


def _detection_error(iou: np.ndarray, same_class: np.ndarray, gt_matched: np.ndarray) -> tuple[str, int | None]:
    """(kind, position of the ground truth it concerns or None) for one unmatched detection."""
    def best(mask: np.ndarray, lo: float, hi: float = np.inf) -> int | None:
        candidates = np.where(mask & (iou >= lo) & (iou < hi), iou, -1.0)
        j = int(candidates.argmax()) if candidates.size else 0
        return j if candidates.size and candidates[j] >= 0 else None

    for kind, j in (
        (DUPLICATE, best(same_class & gt_matched, MATCH_IOU)),
        (CLASS_CONFUSION, best(~same_class, MATCH_IOU)),
        (LOCALISATION, best(same_class, LOCALISATION_MIN_IOU, MATCH_IOU)),
    ):
        if j is not None:
            return kind, j
    return FALSE_POSITIVE, None


def _row(image_id, kind: str, det, gt, iou: float) -> dict:
    row = {"image_id": image_id, "kind": kind, "iou": iou}
    row["class_name"] = det.class_name if det is not None else gt["class_name"]
    row["gt_class_name"] = gt["class_name"] if gt is not None else None
    row["score"] = float(det.score) if det is not None else np.nan
    for c in BOX:
        row[f"det_{c}"] = float(getattr(det, c)) if det is not None else np.nan
        row[f"gt_{c}"] = float(gt[c]) if gt is not None else np.nan
    return row
