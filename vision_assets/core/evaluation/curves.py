"""Precision-recall and F1-confidence curves, precision/recall at one confidence, and a confusion matrix.

Tables are those of metrics.py (pixel boxes, top-left origin):
- ground_truth: image_id, class_name, x1, y1, x2, y2
- detections:   image_id, class_name, x1, y1, x2, y2, score

Curves use same-class matching (`match_detections`): per image and class, detections in descending score each
take the unmatched ground truth they overlap most, if IoU >= 0.5 (COCO's rule at IoU 0.5). Greedy matching in
score order never depends on lower-scored detections, so thresholding a matched table at any confidence gives
exactly what matching only the detections above it would give; the curves are read off one matching.
The confusion matrix uses Ultralytics' class-agnostic matching instead (see `confusion_matrix`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd

from vision_assets.core.geometry import pairwise_iou

BOX = ["x1", "y1", "x2", "y2"]
BACKGROUND = "background"


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between xyxy boxes a (N, 4) and b (M, 4); 0 where a box has no area."""
    return pairwise_iou(a, b)


def by_score(detections: pd.DataFrame) -> pd.DataFrame:
    """Descending score; ties keep table order (a stable sort), as COCOeval and Ultralytics break them."""
    return detections.sort_values("score", ascending=False, kind="stable")


def match_detections(
    ground_truth: pd.DataFrame, detections: pd.DataFrame, *, iou_threshold: float = 0.5
) -> pd.DataFrame:
    """The detections (re-indexed 0..N-1, table order kept) plus tp (bool), iou (with the matched ground
    truth, else 0.0) and gt_row (the matched ground truth's row position in `ground_truth`, else -1)."""
    out = detections.reset_index(drop=True)
    tp, best_iou, gt_row = np.zeros(len(out), bool), np.zeros(len(out)), np.full(len(out), -1, dtype=np.int64)
    if len(out) and len(ground_truth):
        gt = ground_truth.reset_index(drop=True)
        gt_groups = dict(iter(gt.groupby(["image_id", "class_name"], sort=False)))
        for key, dets in out.groupby(["image_id", "class_name"], sort=False):
            gts = gt_groups.get(key)
            if gts is None:
                continue
            dets = by_score(dets)
            iou = box_iou(dets[BOX].to_numpy(), gts[BOX].to_numpy())
            taken = np.zeros(len(gts), dtype=bool)
            for i, row in enumerate(dets.index):
                candidates = np.where(taken, -1.0, iou[i])
                j = int(candidates.argmax())
                if candidates[j] >= iou_threshold:
                    taken[j] = True
                    tp[row], best_iou[row], gt_row[row] = True, iou[i, j], gts.index[j]
    return out.assign(tp=tp, iou=best_iou, gt_row=gt_row)


def pr_curves(matched: pd.DataFrame, ground_truth: pd.DataFrame, class_names: Sequence[str]) -> pd.DataFrame:
    """Per-class precision-recall curve: one row per detection of the class, in descending score.

    Columns class_name, score, tp, precision, recall (both after counting that detection). A class without
    ground truth has recall NaN.
    """
    rows = []
    n_gt = ground_truth["class_name"].value_counts() if len(ground_truth) else pd.Series(dtype=int)
    for name in class_names:
        dets = by_score(matched[matched["class_name"] == name]) if len(matched) else matched
        tp = dets["tp"].to_numpy(dtype=bool) if len(dets) else np.zeros(0, dtype=bool)
        ctp, cfp = np.cumsum(tp), np.cumsum(~tp)
        total = int(n_gt.get(name, 0))
        rows.append(
            pd.DataFrame({
                "class_name": name,
                "score": dets["score"].to_numpy(dtype=float) if len(dets) else np.zeros(0),
                "tp": tp,
                "precision": ctp / np.maximum(ctp + cfp, 1),
                "recall": ctp / total if total else np.full(len(tp), np.nan),
            })  # fmt: skip
        )
    return pd.concat(rows, ignore_index=True)


def precision_recall_at(
    matched: pd.DataFrame, ground_truth: pd.DataFrame, class_names: Sequence[str], confidence: float
) -> pd.DataFrame:
    """Per class, over detections scoring >= confidence: tp, fp, fn, precision, recall, f1.

    precision is 0 with no detections, recall NaN with no ground truth (it is undefined, not bad).
    """
    kept = matched[matched["score"] >= confidence] if len(matched) else matched
    rows = []
    for name in class_names:
        dets = kept[kept["class_name"] == name] if len(kept) else kept
        tp = int(dets["tp"].sum()) if len(dets) else 0
        fp = len(dets) - tp
        n_gt = int((ground_truth["class_name"] == name).sum()) if len(ground_truth) else 0
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / n_gt if n_gt else np.nan
        f1 = 2 * precision * recall / (precision + recall) if n_gt and precision + recall > 0 else 0.0
        rows.append({"class_name": name, "tp": tp, "fp": fp, "fn": n_gt - tp, "precision": precision,
                     "recall": recall, "f1": f1 if n_gt else np.nan})  # fmt: skip
    return pd.DataFrame(rows, columns=["class_name", "tp", "fp", "fn", "precision", "recall", "f1"])


def f1_confidence(
    matched: pd.DataFrame,
    ground_truth: pd.DataFrame,
    class_names: Sequence[str],
    confidences: Sequence[float] | None = None,
) -> tuple[pd.DataFrame, float, float]:
    """F1 against confidence: (curve, best_confidence, best_f1).

    The curve has one row per confidence (by default every distinct detection score, where F1 can change),
    with one column per class and `f1`, the mean over classes that have ground truth (Ultralytics' mean F1).
    Values are exact: unlike Ultralytics, nothing is smoothed. The best confidence maximises `f1`; on a tie the
    highest confidence wins (same F1 from fewer detections).
    """
    if confidences is None:
        confidences = np.unique(matched["score"].to_numpy(dtype=float)) if len(matched) else np.zeros(1)
    if len(confidences) == 0:
        raise ValueError("confidences is empty: no point to draw the curve at")
    scored = [c for c in class_names if len(ground_truth) and (ground_truth["class_name"] == c).any()]
    rows = []
    for c in sorted(float(x) for x in confidences):
        per_class = precision_recall_at(matched, ground_truth, class_names, c).set_index("class_name")["f1"]
        row = {"confidence": c, **per_class.to_dict()}
        row["f1"] = float(per_class[scored].mean()) if scored else 0.0
        rows.append(row)
    curve = pd.DataFrame(rows, columns=["confidence", *class_names, "f1"])
    best = curve.iloc[::-1]["f1"].idxmax()  # reversed, so idxmax's first-max rule picks the highest confidence
    return curve, float(curve.loc[best, "confidence"]), float(curve.loc[best, "f1"])


def confusion_matrix(
    ground_truth: pd.DataFrame,
    detections: pd.DataFrame,
    class_names: Sequence[str],
    *,
    confidence: float = 0.25,
    iou_threshold: float = 0.5,
) -> pd.DataFrame:
    """Detection confusion matrix as Ultralytics' ConfusionMatrix lays it out: rows = predicted class,
    columns = true class, each with a trailing "background" (row background = missed GT, column background =
    detection of nothing).

    Per image, detections scoring >= confidence, in descending score, each claim the unclaimed ground truth
    of ANY class they overlap most, if IoU >= iou_threshold (class-agnostic, so a right box with a wrong class
    lands off the diagonal). Ultralytics compares with a strict > and its default threshold is 0.45; here it is
    >= 0.5, the matching used everywhere else in this package.
    """
    names = list(class_names)
    labels = [*names, BACKGROUND]
    matrix = pd.DataFrame(0, index=pd.Index(labels, name="predicted"), columns=pd.Index(labels, name="true"))
    dets = detections[detections["score"] >= confidence] if len(detections) else detections
    image_ids = set(ground_truth["image_id"] if len(ground_truth) else [])
    image_ids |= set(dets["image_id"] if len(dets) else [])
    for image_id in sorted(image_ids, key=str):
        gts = ground_truth[ground_truth["image_id"] == image_id] if len(ground_truth) else ground_truth
        ds = by_score(dets[dets["image_id"] == image_id]) if len(dets) else dets
        iou = box_iou(gts[BOX].to_numpy(), ds[BOX].to_numpy()) if len(gts) and len(ds) else None
        gt_match = np.full(len(gts), -1)
        for d in range(len(ds) if iou is not None else 0):
            g = int(iou[:, d].argmax())
            if iou[g, d] >= iou_threshold:
                gt_match[g] = d
                iou[g] = -1.0  # claimed: later detections cannot take it
        for g, true in enumerate(gts["class_name"] if len(gts) else []):
            predicted = ds["class_name"].iloc[gt_match[g]] if gt_match[g] >= 0 else BACKGROUND
            matrix.loc[predicted, true] += 1
        for d in sorted(set(range(len(ds))) - set(gt_match[gt_match >= 0].tolist())):
            matrix.loc[ds["class_name"].iloc[d], BACKGROUND] += 1
    return matrix


# --- PNG rendering (matplotlib's Agg canvas directly: no pyplot state, no display) ---------------------


def _figure(figsize: tuple[float, float]):
    # matplotlib is imported when a plot is drawn, not when the code location loads (half a second per process).
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def render_pr_curves(curves: pd.DataFrame, title: str = "Precision-recall (IoU 0.5)") -> bytes:
    fig = _figure((6, 5))
    ax = fig.add_subplot()
    for name, c in curves.groupby("class_name", sort=False):
        if len(c) and c["recall"].notna().any():
            ax.plot(c["recall"], c["precision"], label=str(name), marker=".", linewidth=1.5)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    if ax.lines:
        ax.legend(loc="lower left", fontsize="small")
    return _png(fig)


def render_f1_curve(curve: pd.DataFrame, best_confidence: float | None = None) -> bytes:
    fig = _figure((6, 5))
    ax = fig.add_subplot()
    for name in [c for c in curve.columns if c not in ("confidence", "f1")]:
        ax.plot(curve["confidence"], curve[name], linewidth=1, alpha=0.6, label=str(name), drawstyle="steps-pre")
    # F1 at threshold t is the value at the next score >= t: a step function, drawn as one.
    ax.plot(curve["confidence"], curve["f1"], color="black", linewidth=2.5, label="mean", drawstyle="steps-pre")
    if best_confidence is not None:
        ax.axvline(best_confidence, color="grey", linestyle="--", label=f"best {best_confidence:.3f}")
    ax.set(xlabel="confidence", ylabel="F1", xlim=(0, 1), ylim=(0, 1.02), title="F1 vs confidence")
    ax.legend(loc="lower left", fontsize="small")
    return _png(fig)


def render_confusion_matrix(matrix: pd.DataFrame, *, normalize: bool = False) -> bytes:
    """Heatmap; with normalize, each true-class column sums to 1 (Ultralytics' normalisation)."""
    values = matrix.to_numpy(dtype=float)
    if normalize:
        values = values / np.maximum(values.sum(axis=0, keepdims=True), 1e-9)
    n = len(matrix)
    fig = _figure((max(4.5, 1.5 + 0.8 * n), max(4.0, 1.2 + 0.7 * n)))
    ax = fig.add_subplot()
    im = ax.imshow(values, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ax.set_xticks(range(n), [str(c) for c in matrix.columns], rotation=45, ha="right")
    ax.set_yticks(range(n), [str(i) for i in matrix.index])
    ax.set(xlabel="true", ylabel="predicted", title="Confusion matrix")
    dark = values > 0.5 * max(values.max(), 1e-9)
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:.2f}" if normalize else f"{int(v)}", ha="center", va="center", fontsize="small",
                color="white" if dark[i, j] else "black")  # fmt: skip
    fig.tight_layout()
    return _png(fig)


def thumbnail(image: bytes, *, max_width: int = 360, max_bytes: int = 40_000) -> tuple[bytes, str]:
    """(bytes, mime type) of a small copy of a PNG or JPEG for inline display: at most max_width wide, PNG when
    that fits in max_bytes, else JPEG at falling quality (plots compress well as PNG, photos as JPEG)."""
    import cv2

    decoded = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise ValueError("not a PNG or JPEG image")
    if decoded.shape[1] > max_width:
        scale = max_width / decoded.shape[1]
        decoded = cv2.resize(decoded, (max_width, max(1, round(decoded.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    ok, png = cv2.imencode(".png", decoded, [int(cv2.IMWRITE_PNG_COMPRESSION), 9])
    if ok and len(png) <= max_bytes:
        return png.tobytes(), "image/png"
    for quality in (85, 70, 55, 40, 25):
        ok, jpeg = cv2.imencode(".jpg", decoded, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
        if ok and len(jpeg) <= max_bytes:
            break
    return jpeg.tobytes(), "image/jpeg"
