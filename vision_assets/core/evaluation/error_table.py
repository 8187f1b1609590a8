"""The evaluation's error table: every detection error on every test image and every identity error on every test
video, one row each, with where it happened, the boxes, class, score and IoU, and a crop/overlay JPEG of it.

Kinds (short codes, as `vision-assets errors --kind` takes them): fn (missed object), fp (detection of nothing),
loc (right class, IoU 0.1-0.5), cls (IoU >= 0.5 with an object of another class), dup (a second detection of an
object already found), idsw (the object's predicted track id changed), frag (the object's track was lost and
later found again). Detection kinds come from errors.classify_errors, identity kinds from
tracking.identity_errors.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from vision_assets.core.evaluation.errors import (
    CLASS_CONFUSION,
    DUPLICATE,
    ERROR_COLUMNS,
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    LOCALISATION,
    classify_errors,
)

KIND_CODES = {FALSE_NEGATIVE: "fn", FALSE_POSITIVE: "fp", LOCALISATION: "loc", CLASS_CONFUSION: "cls",
              DUPLICATE: "dup"}
TRACK_KINDS = ("idsw", "frag")
KINDS = (*KIND_CODES.values(), *TRACK_KINDS)
KIND_NAMES = {"fn": "missed", "fp": "false alarm", "loc": "poorly localised", "cls": "wrong class",
              "dup": "duplicate", "idsw": "ID switch", "frag": "track fragmented"}
TABLE_COLUMNS = [
    "kind", "image_id", "video_sha256", "frame_index", "scene", "lighting", "image_key", "class_name",
    "gt_class_name", "score", "iou", "det_x1", "det_y1", "det_x2", "det_y2", "gt_x1", "gt_y1", "gt_x2", "gt_y2",
    "track_id", "previous_track_id", "gt_track_id", "severity", "crop_key",
]  # fmt: skip
GREEN, RED = (0, 200, 0), (0, 0, 255)
CROP_MAX = 256


def detection_error_rows(ground_truth: pd.DataFrame, detections: pd.DataFrame, images: pd.DataFrame, *,
                         confidence: float) -> pd.DataFrame:
    """TABLE_COLUMNS rows (crop_key empty) for every detection error at `confidence`. `images` gives each
    image_id its video_sha256, frame_index, scene, lighting, image_key, width and height."""
    errors = classify_errors(ground_truth, detections, score_threshold=confidence)
    if errors.empty:
        return empty_table()
    context = images.set_index("image_id")
    out = errors[ERROR_COLUMNS].copy()
    out["kind"] = out["kind"].map(KIND_CODES)
    for column in ("video_sha256", "frame_index", "scene", "lighting", "image_key"):
        out[column] = out["image_id"].map(context[column]) if column in context else ""
    diagonal = np.hypot(out["image_id"].map(context["width"]), out["image_id"].map(context["height"]))
    out["severity"] = _severity(out, diagonal.to_numpy(dtype=float))
    for column in ("track_id", "previous_track_id", "gt_track_id"):
        out[column] = -1
    out["crop_key"] = ""
    return out[TABLE_COLUMNS]


def identity_error_rows(events: pd.DataFrame, *, video_sha256: str, scene: str, lighting: str,
                        image_diagonal: float) -> pd.DataFrame:
    """TABLE_COLUMNS rows for tracking.identity_errors' events of one video (the ground-truth box in gt_*)."""
    if events.empty:
        return empty_table()
    out = pd.DataFrame({
        "kind": events["kind"], "image_id": "", "video_sha256": video_sha256,
        "frame_index": events["frame"].astype("int64"), "scene": scene, "lighting": lighting, "image_key": "",
        "class_name": "", "gt_class_name": "", "score": np.nan, "iou": events["iou"].astype(float),
        **{f"det_{c}": np.nan for c in ("x1", "y1", "x2", "y2")},
        **{f"gt_{c}": events[c].astype(float) for c in ("x1", "y1", "x2", "y2")},
        "track_id": events["track_id"].astype("int64"), "previous_track_id": events["previous_track_id"].astype("int64"),
        "gt_track_id": events["gt_track_id"].astype("int64"),
    })  # fmt: skip
    out["severity"] = _severity(out, np.full(len(out), float(image_diagonal)))
    out["crop_key"] = ""
    return out[TABLE_COLUMNS]


def empty_table() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in TABLE_COLUMNS})


def _dtype(column: str) -> str:
    if column in ("frame_index", "track_id", "previous_track_id", "gt_track_id"):
        return "int64"
    if column in ("score", "iou", "severity") or column[:3] in ("det", "gt_"):
        return "float64"
    return "object"


def _severity(rows: pd.DataFrame, diagonal: np.ndarray) -> np.ndarray:
    """What "worst" means per kind: a confident wrong detection is worse than a hesitant one; a big missed or
    mistracked object is worse than a small one (its box diagonal against the image's)."""
    gt_size = np.hypot(rows["gt_x2"] - rows["gt_x1"], rows["gt_y2"] - rows["gt_y1"]).to_numpy(dtype=float)
    by_size = np.nan_to_num(gt_size / np.maximum(diagonal, 1.0))
    return np.where(rows["score"].notna(), rows["score"].fillna(0.0).to_numpy(dtype=float), by_size)


def worst(table: pd.DataFrame, per_kind: int = 3, *, kind: str | None = None, class_name: str | None = None
          ) -> pd.DataFrame:
    """The `per_kind` worst errors of each kind (KINDS order), optionally of one kind and one class (a row's
    class or its ground truth's)."""
    rows = filter_errors(table, kind=kind, class_name=class_name)
    if rows.empty:
        return rows
    rows = rows.assign(_order=rows["kind"].map({k: i for i, k in enumerate(KINDS)}))
    rows = rows.sort_values(["_order", "severity"], ascending=[True, False], kind="stable")
    return rows.groupby("kind", sort=False).head(per_kind).drop(columns="_order").reset_index(drop=True)


def filter_errors(table: pd.DataFrame, *, kind: str | None = None, class_name: str | None = None) -> pd.DataFrame:
    rows = table
    if kind is not None:
        if kind not in KINDS:
            raise ValueError(f"unknown error kind {kind!r}; one of {', '.join(KINDS)}")
        rows = rows[rows["kind"] == kind]
    if class_name is not None:
        rows = rows[(rows["class_name"] == class_name) | (rows["gt_class_name"] == class_name)]
    return rows


def caption(row) -> str:
    """One line a person reads under the crop: what went wrong, where, with what confidence and overlap."""
    get = row.get if isinstance(row, dict) else row.__getitem__
    parts = [KIND_NAMES.get(get("kind"), get("kind")), f"scene {get('scene')}"]
    if get("kind") in TRACK_KINDS:
        parts.append(f"frame {int(get('frame_index'))}, gt track {int(get('gt_track_id'))}: "
                     f"#{int(get('previous_track_id'))} -> " + (f"#{int(get('track_id'))}" if get("track_id") >= 0 else "lost"))
    else:
        cls = get("class_name")
        if get("kind") == "cls":
            cls = f"{get('class_name')} (is {get('gt_class_name')})"
        parts.append(f"class {cls}")
        if not pd.isna(get("score")):
            parts.append(f"score {get('score'):.2f}")
    if not pd.isna(get("iou")):
        parts.append(f"IoU {get('iou'):.2f}")
    return ", ".join(parts)


def crop_overlay(image: np.ndarray, row, *, margin: float = 0.5) -> bytes:
    """A JPEG of the error's surroundings: the ground-truth box green, the detection red, scaled so the longer
    side is at most CROP_MAX pixels (and small objects are enlarged to be seen)."""
    get = row.get if isinstance(row, dict) else row.__getitem__
    boxes = [(tuple(get(f"{p}_{c}") for c in ("x1", "y1", "x2", "y2")), colour)
             for p, colour in (("gt", GREEN), ("det", RED))]
    boxes = [(b, colour) for b, colour in boxes if not any(pd.isna(v) for v in b)]
    height, width = image.shape[:2]
    if not boxes:
        return encode_jpeg(image)
    x1 = min(b[0] for b, _ in boxes)
    y1 = min(b[1] for b, _ in boxes)
    x2 = max(b[2] for b, _ in boxes)
    y2 = max(b[3] for b, _ in boxes)
    pad_x, pad_y = max(8.0, (x2 - x1) * margin), max(8.0, (y2 - y1) * margin)
    left, top = int(max(0, x1 - pad_x)), int(max(0, y1 - pad_y))
    right, bottom = int(min(width, x2 + pad_x)), int(min(height, y2 + pad_y))
    if right <= left or bottom <= top:
        left, top, right, bottom = 0, 0, width, height
    crop = image[top:bottom, left:right].copy()
    scale = CROP_MAX / max(crop.shape[:2])
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                      interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
    for (bx1, by1, bx2, by2), colour in boxes:
        p1 = (round((bx1 - left) * scale), round((by1 - top) * scale))
        p2 = (round((bx2 - left) * scale), round((by2 - top) * scale))
        cv2.rectangle(crop, p1, p2, colour, 2)
    return encode_jpeg(crop)


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise ValueError("OpenCV could not encode the image as JPEG")
    return buffer.tobytes()
