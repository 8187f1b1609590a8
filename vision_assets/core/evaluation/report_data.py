"""What the report page shows, gathered from a stored evaluation: its test images (as small JPEG data URIs), the
ground truth and detections drawn over them, every error, the curves, each image's slice values.

Everything is read from what the evaluation wrote (eval.json, detections.parquet, the error table, the dataset
version's test split) so the page can be rebuilt for any stored evaluation without running the model."""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from vision_assets.core.evaluation.curves import f1_confidence, match_detections, pr_curves

FRAME_MAX_WIDTH = 960  # frames are shown at most this wide: the page stays a few MB for a test split of ~100 images
MAX_ERRORS = 600  # the gallery's errors, worst first per kind; the rest are in the error table
CURVE_POINTS = 400  # per class: enough for a smooth curve, small enough to keep the page light


@dataclass
class ReportData:
    report: dict
    images: pd.DataFrame  # image_id, width, height, video_sha256, frame_index, image_key, slice columns
    ground_truth: pd.DataFrame
    detections: pd.DataFrame
    errors: pd.DataFrame
    frames: dict[str, str]  # image key -> data URI
    pr: pd.DataFrame
    f1: pd.DataFrame
    slice_dimensions: list[str]


def read_parquet(lake, key: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(lake.fs.cat_file(lake.path(key))))


def test_images(lake, dataset_version: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per test image: id, size, video, frame, image_key and every slice field; its ground truth), as the
    evaluation saw them."""
    from vision_assets.core.evaluation.checkpoint_report import _images_table
    from vision_assets.core.evaluation.report import test_split
    from vision_assets.core.records import DatasetVersion

    test, gt = test_split(lake, DatasetVersion(version=dataset_version, class_names=[]))
    images = _images_table(lake, test.assign(image_key=test["image_path"]))
    return images.drop(columns=["image_path"], errors="ignore"), gt


def gather(lake, report: dict, *, embed_frames: bool = True) -> ReportData:
    images, gt = test_images(lake, report["dataset_version"])
    classes = list(report["inference_config"]["class_names"])
    detections = read_parquet(lake, report["detections"]) if report.get("detections") else pd.DataFrame(
        columns=["image_id", "class_name", "x1", "y1", "x2", "y2", "score"])
    detections = detections[detections["class_name"].isin(classes)].reset_index(drop=True)
    errors = read_parquet(lake, report["errors"]["table"]) if lake.exists(report["errors"]["table"]) else None
    errors = _gallery_rows(errors if errors is not None else pd.DataFrame(), images)
    matched = match_detections(gt, detections)
    pr = _thin(pr_curves(matched, gt, classes))
    f1, _, _ = f1_confidence(matched, gt, classes, np.round(np.arange(0.01, 1.0, 0.01), 2))
    dimensions = sorted({r["dimension"] for r in report.get("slices") or []} - {"all", "class", "size", "occlusion"})
    dimensions = [d for d in dimensions if d in images.columns]
    wanted = set(errors["image_key"]) - {""} if len(errors) else set()
    # Identity errors have no test image: their crop (cut from the video while the replay was drawn) stands in.
    wanted |= set(errors.loc[errors["image_key"].fillna("") == "", "crop_key"].fillna("")) - {""} if len(errors) else set()
    frames = {key: _data_uri(lake, key) for key in sorted(wanted)} if embed_frames else {}
    return ReportData(report, images, gt, detections, errors, frames, pr, f1, dimensions)


def _thin(curves: pd.DataFrame) -> pd.DataFrame:
    out = []
    for _, group in curves.groupby("class_name", sort=False):
        step = max(1, math.ceil(len(group) / CURVE_POINTS))
        out.append(pd.concat([group.iloc[::step], group.iloc[-1:]]).drop_duplicates())
    return pd.concat(out, ignore_index=True) if out else curves


def _gallery_rows(errors: pd.DataFrame, images: pd.DataFrame) -> pd.DataFrame:
    """The worst MAX_ERRORS errors (severity order within each kind, kinds interleaved by share)."""
    if errors.empty:
        return errors.assign(**{c: pd.Series(dtype=object) for c in ("image_key", "kind", "class_name")})
    errors = errors.sort_values("severity", ascending=False, kind="stable")
    if len(errors) > MAX_ERRORS:
        share = errors.groupby("kind")["kind"].transform("size") / len(errors)
        quota = np.maximum(1, np.floor(share * MAX_ERRORS)).astype(int)
        errors = errors[errors.groupby("kind").cumcount() < quota].head(MAX_ERRORS)
    return errors.reset_index(drop=True)


def _data_uri(lake, key: str) -> str:
    data = lake.fs.cat_file(lake.path(key))
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is not None and image.shape[1] > FRAME_MAX_WIDTH:
        scale = FRAME_MAX_WIDTH / image.shape[1]
        image = cv2.resize(image, (FRAME_MAX_WIDTH, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        ok, buffer = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), 80])
        data = buffer.tobytes() if ok else data
    mime = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def blob_data_uri(lake, key: str) -> str:
    return _data_uri(lake, key)
