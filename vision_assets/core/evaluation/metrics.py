"""Detection metrics from plain tables, computed by pycocotools.

pycocotools is the reference everybody compares against, so AP is never re-implemented here: the tables
are turned into in-memory COCO structures and COCOeval does the work. Only precision/recall at one score
threshold are derived by us, and they are read off COCOeval's own matching.

Table contracts (pixel boxes, top-left origin):
- images:       image_id, width, height, plus any slice columns (scene, lighting, ...)
- ground_truth: image_id, class_name, x1, y1, x2, y2, optional iscrowd / ignore / area
- detections:   image_id, class_name, x1, y1, x2, y2, score
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from vision_assets.core.errors import InvalidInput
from vision_assets.core.geometry import xywh_to_xyxy, xyxy_to_xywh

IMAGE_COLUMNS = ("image_id", "width", "height")
GROUND_TRUTH_COLUMNS = ("image_id", "class_name", "x1", "y1", "x2", "y2")
DETECTION_COLUMNS = (*GROUND_TRUTH_COLUMNS, "score")

# Order of COCOeval.stats, as summarize() fills it.
COCO_STAT_NAMES = (
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
)  # fmt: skip


@dataclass(frozen=True)
class DetectionMetrics:
    map50_95: float
    map50: float
    map75: float
    precision: float  # at IoU 0.5 and score >= score_threshold
    recall: float  # same
    n_images: int
    n_ground_truth: int
    n_detections: int
    stats: tuple[float, ...]  # the 12 COCOeval stats as pycocotools gives them (-1 = undefined)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["stats"] = list(self.stats)  # lists survive JSON round trips unchanged
        return d


def evaluate_detections(
    ground_truth: pd.DataFrame,
    detections: pd.DataFrame,
    *,
    images: pd.DataFrame,
    class_names: Sequence[str],
    score_threshold: float = 0.25,
) -> DetectionMetrics:
    """COCO bbox metrics over all images in `images`.

    mAP ignores `score_threshold` (AP integrates over all scores); precision/recall use it.
    Where pycocotools reports -1 (no ground truth to measure against) the mAP fields read 0.0;
    `stats` keeps the -1 so the two cases stay distinguishable.
    """
    ev = _run_cocoeval(ground_truth, detections, images, class_names)
    precision, recall = _precision_recall_at_50(ev, score_threshold)
    stats = tuple(float(s) for s in ev.stats)
    return DetectionMetrics(
        map50_95=max(stats[0], 0.0),
        map50=max(stats[1], 0.0),
        map75=max(stats[2], 0.0),
        precision=precision,
        recall=recall,
        n_images=len(images),
        n_ground_truth=len(ground_truth),
        n_detections=len(detections),
        stats=stats,
    )


def evaluate_by_slice(
    ground_truth: pd.DataFrame,
    detections: pd.DataFrame,
    *,
    images: pd.DataFrame,
    class_names: Sequence[str],
    slice_column: str,
    score_threshold: float = 0.25,
) -> dict[str, DetectionMetrics]:
    """One DetectionMetrics per distinct value of images[slice_column] (keyed by str(value)).

    Each slice is evaluated on its own, exactly as if only its images had been given.
    """
    if slice_column not in images.columns:
        raise ValueError(f"images has no slice column {slice_column!r}")
    # Validate the whole input once, so a box on an unknown image is an error, not silently dropped.
    _run_checks(ground_truth, detections, images, class_names)
    out: dict[str, DetectionMetrics] = {}
    for value, slice_images in images.groupby(slice_column, dropna=False, sort=True):
        ids = set(slice_images["image_id"].astype(str))
        out[str(value)] = evaluate_detections(
            _rows_on(ground_truth, ids),
            _rows_on(detections, ids),
            images=slice_images,
            class_names=class_names,
            score_threshold=score_threshold,
        )
    return out


def per_class_ap(
    ground_truth: pd.DataFrame,
    detections: pd.DataFrame,
    *,
    images: pd.DataFrame,
    class_names: Sequence[str],
) -> dict[str, float]:
    """AP50-95 per class name (area "all", 100 dets); nan for a class with no ground truth.

    Averaged the way summarize() averages the overall AP, so the mean of the non-nan values
    equals map50_95.
    """
    ev = _run_cocoeval(ground_truth, detections, images, class_names)
    area = ev.params.areaRngLbl.index("all")
    # precision is [iou, recall, class, area, maxDets]; -1 marks "no ground truth" cells.
    precision = ev.eval["precision"][:, :, :, area, -1]
    out = {}
    for k, name in enumerate(class_names):  # category ids are 1..K in class_names order, so k matches
        p = precision[:, :, k]
        p = p[p > -1]
        out[name] = float(p.mean()) if p.size else math.nan
    return out


AREA_LABELS = ("small", "medium", "large")


def coco_breakdown(
    ground_truth: pd.DataFrame,
    detections: pd.DataFrame,
    *,
    images: pd.DataFrame,
    class_names: Sequence[str],
    score_threshold: float = 0.25,
) -> dict:
    """One COCOeval read three ways: {"areas": {small|medium|large: metrics}, "classes": {name: metrics}}, where
    metrics = map50_95, map50, map75 (summarize()'s averaging; nan where nothing is measured), precision and recall
    at IoU 0.5 and score >= score_threshold (areas: COCO's own area ranges, so a small box is one of area < 32**2,
    and a detection outside the range that matches nothing is ignored, as COCOeval ignores it)."""
    ev = _run_cocoeval(ground_truth, detections, images, class_names)
    out: dict = {"areas": {}, "classes": {}}
    for label in AREA_LABELS:
        a = ev.params.areaRngLbl.index(label)
        precision, recall = _precision_recall_at_50(ev, score_threshold, area=label)
        out["areas"][label] = {**_ap_triplet(ev, ev.eval["precision"][:, :, :, a, -1]),
                               "precision": precision, "recall": recall}
    a = ev.params.areaRngLbl.index("all")
    for k, name in enumerate(class_names):  # category ids are 1..K in class_names order
        precision, recall = _precision_recall_at_50(ev, score_threshold, category=k + 1)
        out["classes"][name] = {**_ap_triplet(ev, ev.eval["precision"][:, :, k : k + 1, a, -1]),
                                "precision": precision, "recall": recall}
    return out


def _ap_triplet(ev: COCOeval, precision: np.ndarray) -> dict[str, float]:
    """mAP50-95, mAP50 and mAP75 of a [iou, recall, class] precision block, averaged as summarize() does."""
    def mean(block: np.ndarray) -> float:
        block = block[block > -1]
        return float(block.mean()) if block.size else math.nan

    t50 = int(np.argmin(np.abs(ev.params.iouThrs - 0.5)))
    t75 = int(np.argmin(np.abs(ev.params.iouThrs - 0.75)))
    return {"map50_95": mean(precision), "map50": mean(precision[t50]), "map75": mean(precision[t75])}


def load_coco_files(
    gt_json: Path, dt_json: Path
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """Read a COCO ground-truth file and a COCO results file into (gt, detections, images, class_names).

    Made so the tables reproduce pycocotools' numbers on the same files: image ids stay the file's ids
    (as strings) in id order, class_names follow category id order, rows keep file order (it breaks
    score ties the same way), and GT keeps the file's `area` (polygon area, which decides the
    small/medium/large buckets). The file's `ignore` fields are dropped because pycocotools drops them.
    """
    gt = json.loads(Path(gt_json).read_text())
    dt = json.loads(Path(dt_json).read_text())
    if isinstance(dt, dict):  # some tools wrap results like a dataset
        dt = dt.get("annotations", [])

    categories = sorted(gt["categories"], key=lambda c: c["id"])
    class_names = [c["name"] for c in categories]
    if len(set(class_names)) != len(class_names):
        raise InvalidInput(object=str(gt_json), problem="category names are not unique")
    name_of = {c["id"]: c["name"] for c in categories}

    images = pd.DataFrame(
        [
            {"image_id": str(im["id"]), "width": int(im["width"]), "height": int(im["height"]),
             "file_name": im.get("file_name", ""), "_id": im["id"]}  # fmt: skip
            for im in gt["images"]
        ],
        columns=["image_id", "width", "height", "file_name", "_id"],
    )
    images = images.sort_values("_id", kind="stable").drop(columns="_id").reset_index(drop=True)

    def boxes(anns: list[dict], extra: dict) -> pd.DataFrame:
        rows = []
        for a in anns:
            x, y, w, h = a["bbox"]
            x1, y1, x2, y2 = xywh_to_xyxy(x, y, w, h)
            row = {"image_id": str(a["image_id"]), "class_name": name_of[a["category_id"]],
                   "x1": x1, "y1": y1, "x2": x2, "y2": y2}  # fmt: skip
            row.update({col: get(a) for col, get in extra.items()})
            rows.append(row)
        return pd.DataFrame(rows, columns=[*GROUND_TRUTH_COLUMNS, *extra])

    gt_df = boxes(
        gt.get("annotations", []),
        {"iscrowd": lambda a: int(a.get("iscrowd", 0)), "area": lambda a: a.get("area", math.nan)},
    )
    dt_df = boxes(dt, {"score": lambda a: float(a["score"])})
    return gt_df, dt_df, images, class_names


# --- internals -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet():
    # pycocotools reports progress and the summary table with print(); callers want numbers, not noise.
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _rows_on(df: pd.DataFrame, image_ids: set[str]) -> pd.DataFrame:
    if len(df) == 0:  # may have no columns at all
        return df
    return df[df["image_id"].astype(str).isin(image_ids)]


def _require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks columns {missing}")


def _check_boxes(df: pd.DataFrame, columns: Sequence[str], what: str, image_ids, class_names) -> None:
    if len(df) == 0:  # an empty table needs no columns; "no detections" often arrives as pd.DataFrame()
        return
    _require_columns(df, columns, what)
    unknown_images = set(df["image_id"].astype(str)) - set(image_ids)
    if unknown_images:
        raise ValueError(f"{what} refers to images not in `images`: {sorted(unknown_images)[:5]}")
    unknown_classes = set(df["class_name"]) - set(class_names)
    if unknown_classes:
        raise ValueError(f"{what} has class names not in class_names: {sorted(map(str, unknown_classes))[:5]}")
    numeric = df[list(columns[2:])].to_numpy(dtype=float)
    if not np.isfinite(numeric).all():
        raise ValueError(f"{what} has non-finite coordinates or scores")
    if ((df["x2"] < df["x1"]) | (df["y2"] < df["y1"])).any():
        raise ValueError(f"{what} has boxes with x2 < x1 or y2 < y1")


def _run_checks(ground_truth, detections, images, class_names) -> None:
    _require_columns(images, IMAGE_COLUMNS, "images")
    image_ids = images["image_id"].astype(str)
    if image_ids.duplicated().any():
        raise ValueError("images has duplicate image_id values")
    if len(images) == 0:
        raise ValueError("images is empty: nothing to evaluate")
    if len(class_names) == 0 or len(set(class_names)) != len(class_names):
        raise ValueError("class_names must be non-empty and unique")
    _check_boxes(ground_truth, GROUND_TRUTH_COLUMNS, "ground_truth", image_ids, class_names)
    _check_boxes(detections, DETECTION_COLUMNS, "detections", image_ids, class_names)


def _xywh(df: pd.DataFrame) -> np.ndarray:
    """The table's boxes as COCO's [x, y, width, height] rows."""
    return np.stack(xyxy_to_xywh(*(df[c].to_numpy(dtype=float) for c in ("x1", "y1", "x2", "y2"))), axis=1)


def _run_cocoeval(ground_truth, detections, images, class_names) -> COCOeval:
    """Build COCO structures in memory and return an evaluated, accumulated, summarized COCOeval."""
    _run_checks(ground_truth, detections, images, class_names)
    # Image ids become 1..N in table order: COCOeval uses them only as keys and to order images
    # (which breaks score ties), so table order is what carries over.
    image_index = {str(i): n for n, i in enumerate(images["image_id"], start=1)}
    category_id = {name: k for k, name in enumerate(class_names, start=1)}
    coco_images = [
        {"id": n, "width": int(w), "height": int(h)}
        for n, w, h in zip(image_index.values(), images["width"], images["height"])
    ]
    coco_categories = [{"id": k, "name": name} for name, k in category_id.items()]

    gt_annotations = []
    if len(ground_truth):
        xywh = _xywh(ground_truth)
        area = xywh[:, 2] * xywh[:, 3]
        if "area" in ground_truth.columns:  # e.g. polygon areas from a COCO file
            given = ground_truth["area"].to_numpy(dtype=float)
            area = np.where(np.isnan(given), area, given)
        # COCOeval overwrites `ignore` with `iscrowd`, so a crowd region is the only ignore it knows.
        crowd = np.zeros(len(ground_truth), dtype=bool)
        for col in ("iscrowd", "ignore"):
            if col in ground_truth.columns:
                crowd |= ground_truth[col].fillna(0).astype(bool).to_numpy()
        for n, (image_id, name) in enumerate(zip(ground_truth["image_id"], ground_truth["class_name"])):
            gt_annotations.append({
                "id": n + 1,  # COCOeval marks "unmatched" with 0, so ids start at 1
                "image_id": image_index[str(image_id)],
                "category_id": category_id[name],
                "bbox": xywh[n].tolist(),
                "area": float(area[n]),
                "iscrowd": int(crowd[n]),
            })  # fmt: skip

    with _quiet():
        coco_gt = COCO()
        coco_gt.dataset = {"images": coco_images, "categories": coco_categories, "annotations": gt_annotations}
        coco_gt.createIndex()
        if len(detections):
            xywh = _xywh(detections)
            results = [
                {"image_id": image_index[str(i)], "category_id": category_id[c], "bbox": xywh[n].tolist(),
                 "score": float(s)}  # fmt: skip
                for n, (i, c, s) in enumerate(
                    zip(detections["image_id"], detections["class_name"], detections["score"])
                )
            ]
            coco_dt = coco_gt.loadRes(results)  # the reference path: sets area = w*h, ids, iscrowd
        else:
            # loadRes indexes anns[0] and crashes on an empty list; an empty result set is just this.
            coco_dt = COCO()
            coco_dt.dataset = {"images": coco_images, "categories": coco_categories, "annotations": []}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _precision_recall_at_50(ev: COCOeval, score_threshold: float, area: str = "all",
                            category: int | None = None) -> tuple[float, float]:
    """Precision and recall at IoU 0.5 over detections scoring >= score_threshold.

    Read from COCOeval's per-image matching (area "all", the largest maxDets). Matching is greedy in
    descending score, so whether a detection is matched does not depend on lower-scored ones and
    counting matched detections above the threshold is exact. Detections matched to crowd regions
    (dtIgnore) count as neither TP nor FP, and crowd GT is not in the recall denominator.
    """
    t = int(np.argmin(np.abs(ev.params.iouThrs - 0.5)))
    all_range = ev.params.areaRng[ev.params.areaRngLbl.index(area)]
    tp = fp = n_gt = 0
    for e in ev.evalImgs:
        if e is None or list(e["aRng"]) != list(all_range) or (category is not None and e["category_id"] != category):
            continue
        scores = np.asarray(e["dtScores"], dtype=float)
        counted = ~np.asarray(e["dtIgnore"][t], dtype=bool) & (scores >= score_threshold)
        matched = np.asarray(e["dtMatches"][t]) > 0
        tp += int((matched & counted).sum())
        fp += int((~matched & counted).sum())
        n_gt += int((~np.asarray(e["gtIgnore"], dtype=bool)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / n_gt if n_gt else 0.0
    return precision, recall
