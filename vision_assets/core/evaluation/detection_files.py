"""Score a COCO results file against a COCO ground-truth file, through the project's own evaluation path.

The numbers come from metrics.py (load_coco_files -> evaluate_detections / per_class_ap), the code the
checkpoint evaluation uses, so a file scored here and a model scored in the pipeline are measured alike, and
both reproduce pycocotools on the same files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from vision_assets.core.errors import VisionError
from vision_assets.core.evaluation.metrics import (
    COCO_STAT_NAMES,
    evaluate_detections,
    load_coco_files,
    per_class_ap,
)
from vision_assets.core.numbers import finite_number


class InputFileError(VisionError, ValueError):
    """An input file is missing, unreadable or not what it should be; `path` names it, `problem` says why."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


def score_coco_files(gt_json: Path | str, detections_json: Path | str) -> dict:
    """JSON-ready COCO bbox scores: stats (pycocotools' 12, in its order), map50_95, map50, map75, per-class AP.

    `stats` keeps pycocotools' -1 for "undefined" (e.g. no small objects); the map fields read 0.0 there, as
    DetectionMetrics does. A class without ground truth has AP None (JSON null), never NaN.
    Raises InputFileError naming the file at fault before any scoring starts.
    """
    gt_path, dt_path = Path(gt_json), Path(detections_json)
    gt = _read_json(gt_path)
    dt = _read_json(dt_path)
    _check_ground_truth(gt_path, gt)
    _check_detections(dt_path, dt, gt)

    ground_truth, detections, images, class_names = load_coco_files(gt_path, dt_path)
    metrics = evaluate_detections(ground_truth, detections, images=images, class_names=class_names)
    per_class = per_class_ap(ground_truth, detections, images=images, class_names=class_names)
    return {
        "stats": list(metrics.stats),
        "stat_names": list(COCO_STAT_NAMES),
        "map50_95": metrics.map50_95,
        "map50": metrics.map50,
        "map75": metrics.map75,
        "per_class_ap": {name: finite_number(ap) for name, ap in per_class.items()},
        "n_images": metrics.n_images,
        "n_ground_truth": metrics.n_ground_truth,
        "n_detections": metrics.n_detections,
    }


def _read_json(path: Path):
    if not path.exists():
        raise InputFileError(path, "no such file")
    if not path.is_file():
        raise InputFileError(path, "not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise InputFileError(path, "not UTF-8 text, so not a COCO JSON file") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc


def _check_ground_truth(path: Path, gt) -> None:
    if not isinstance(gt, dict):
        raise InputFileError(path, "a COCO ground-truth file is a JSON object with images, annotations, categories")
    for key in ("images", "categories"):
        if not isinstance(gt.get(key), list):
            raise InputFileError(path, f"COCO ground truth needs a list under {key!r}")
    if not gt["categories"]:
        raise InputFileError(path, "COCO ground truth has no categories")
    if not gt["images"]:
        raise InputFileError(path, "COCO ground truth has no images: nothing to evaluate")
    _check_records(path, gt["images"], ("id", "width", "height"), "image")
    _check_records(path, gt["categories"], ("id", "name"), "category")
    _check_records(path, gt.get("annotations", []), ("image_id", "category_id", "bbox"), "annotation")
    for key, what in (("images", "image id"), ("categories", "category id")):
        ids = [_key(r["id"]) for r in gt[key]]
        if len(set(ids)) != len(ids):
            raise InputFileError(path, f"a {what} appears twice")
    names = [c["name"] for c in gt["categories"]]
    if len(set(map(_key, names))) != len(names):
        raise InputFileError(path, "category names are not unique")
    _check_references(path, gt.get("annotations", []), gt, "annotation")


def _check_detections(path: Path, dt, gt: dict) -> None:
    records = dt.get("annotations") if isinstance(dt, dict) else dt  # load_coco_files accepts both layouts
    if not isinstance(records, list):
        raise InputFileError(path, "a COCO results file is a JSON list of detections (or an object with an "
                                   "'annotations' list)")
    _check_records(path, records, ("image_id", "category_id", "bbox", "score"), "detection")
    _check_references(path, records, gt, "detection")
    for n, d in enumerate(records):
        if not isinstance(d["score"], int | float) or not math.isfinite(d["score"]):
            raise InputFileError(path, f"detection {n} has a score that is not a finite number")


def _check_references(path: Path, records: list[dict], gt: dict, what: str) -> None:
    image_ids = {_key(im["id"]) for im in gt["images"]}
    category_ids = {_key(c["id"]) for c in gt["categories"]}
    for n, r in enumerate(records):
        if _key(r["image_id"]) not in image_ids:
            raise InputFileError(path, f"{what} {n} is on image_id {r['image_id']!r}, not in the ground truth")
        if _key(r["category_id"]) not in category_ids:
            raise InputFileError(path, f"{what} {n} has category_id {r['category_id']!r}, not in the ground truth")


def _check_records(path: Path, records, keys: tuple[str, ...], what: str) -> None:
    if not isinstance(records, list):
        raise InputFileError(path, f"expected a list of {what}s")
    for n, record in enumerate(records):
        if not isinstance(record, dict):
            raise InputFileError(path, f"{what} {n} is not a JSON object")
        missing = [k for k in keys if k not in record]
        if missing:
            raise InputFileError(path, f"{what} {n} lacks {', '.join(missing)}")
        bbox = record.get("bbox")
        if "bbox" in keys and not (
            isinstance(bbox, list) and len(bbox) == 4
            and all(isinstance(v, int | float) and math.isfinite(v) for v in bbox)
            and bbox[2] >= 0 and bbox[3] >= 0
        ):  # fmt: skip
            raise InputFileError(path, f"{what} {n} has a bbox that is not [x, y, width >= 0, height >= 0]")


def _key(value):
    # A bad file may hold a list or object where an id belongs; compare those by their text.
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value
