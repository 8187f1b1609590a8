"""The evaluation of one checkpoint on a dataset version's test split, computed once per key and kept in the lake.

Key: (checkpoint sha256, test set hash, evaluation config fingerprint), spelled `<sha256[:16]>-<test set>-<config>`.
Before computing, the lake is asked for the key's record; the record is written last, so a run that died halfway
computes again and one that finished is never repeated. Under `evaluations/<key>/`: eval.json (the report), plots/
(PR curves, F1 against confidence, confusion matrix), replays/ (an MP4 per test video), detections.parquet; the
error table in `tables/eval_errors/evaluation=<key>/`, its crops as content-addressed blobs.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from vision_assets.core.errors import VisionError
from vision_assets.core.evaluation.curves import (
    confusion_matrix,
    f1_confidence,
    match_detections,
    pr_curves,
    precision_recall_at,
    render_confusion_matrix,
    render_f1_curve,
    render_pr_curves,
)
from vision_assets.core.evaluation.error_table import (
    KINDS,
    caption,
    crop_overlay,
    detection_error_rows,
    empty_table,
    identity_error_rows,
    worst,
)
from vision_assets.core.evaluation.inference import InferenceConfig
from vision_assets.core.evaluation.metrics import evaluate_by_slice, evaluate_detections, per_class_ap
from vision_assets.core.evaluation.report import (
    detect_on_test_split,
    error_montage,
    test_set_hash,
    test_split_hash,
)
from vision_assets.core.evaluation.slices import DEFAULT_MIN_BOXES, slice_records, slice_table
from vision_assets.core.evaluation.video_tracking import (
    score_videos,
    temporary_mp4,
    test_videos,
    track_video,
    video_identity_errors,
    write_replay,
)
from vision_assets.core.lake import Lake, keys
from vision_assets.core.numbers import finite_number, json_ready
from vision_assets.core.records import DatasetVersion, Evaluation

TEST_METRICS = ("map50_95", "map50", "map75", "precision", "recall")
TRACK_METRICS_LOGGED = ("mota", "motp", "idf1", "idp", "idr", "hota", "deta", "assa", "num_switches",
                        "num_fragmentations")


class EmptyTestSplit(VisionError, ValueError):
    """A dataset version whose test split holds no image: nothing to evaluate on."""


# Bumped when the evaluation computes something differently: old records then stop answering for new keys.
EVALUATION_CODE = "evaluation-2"
# F1 is read at these confidences (the best one becomes the operating point): exact at each, 0.01 apart.
CONFIDENCE_GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)
# Sidecar fields that are not slices: a timestamp per video, a list, and the partition keys (already slices).
_NOT_SLICES = frozenset({"capture_start", "tags", "scene", "day", "lighting"})


@dataclass(frozen=True)
class EvaluationConfig:
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    choose_confidence: bool = True  # the F1-optimal confidence becomes the operating point; else inference.conf
    min_boxes: int = DEFAULT_MIN_BOXES  # slices with fewer labelled boxes are marked too_few
    tracking: bool = True
    replays: bool = True
    worst_per_kind: int = 3

    def fingerprint(self) -> str:
        payload = {"inference": self.inference.fingerprint(), "choose_confidence": self.choose_confidence,
                   "min_boxes": self.min_boxes, "tracking": self.tracking, "replays": self.replays,
                   "code": EVALUATION_CODE}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def as_dict(self) -> dict:
        return {**asdict(self), "fingerprint": self.fingerprint()}


def evaluation_key(checkpoint_sha256: str, test_set: str, config: EvaluationConfig) -> str:
    return f"{checkpoint_sha256[:16]}-{test_set}-{config.fingerprint()}"


def find_evaluation(lake: Lake, key: str) -> Evaluation | None:
    record = keys.evaluation_record_key(key)
    return Evaluation.from_json(lake.read_json(record)) if lake.exists(record) else None


def evaluate(lake: Lake, dataset: DatasetVersion, weights: Path, *, checkpoint_sha256: str, imgsz: int,
             work_dir: Path, device: str = "auto", config: EvaluationConfig | None = None, registry=None,
             mlflow_run_id: str | None = None) -> tuple[Evaluation, bool]:
    """(the evaluation of `weights` on the dataset version's test set, computed now): the lake's record for this
    key if there is one, else the evaluation, stored; its metrics and files go to `mlflow_run_id` when a registry
    is given and the evaluation is new. The one way a checkpoint is evaluated, the champion's included."""
    config = config or EvaluationConfig()
    from vision_assets.core.evaluation.report import test_split

    test, gt = test_split(lake, dataset)
    if test.empty:
        raise EmptyTestSplit(f"dataset {dataset.version}: its test split is empty, nothing to evaluate on")
    key = evaluation_key(checkpoint_sha256, test_set_hash(test, gt), config)
    found = find_evaluation(lake, key)
    if found is not None:
        return found, False
    evaluation = Evaluation.from_json(json_ready(_evaluate(lake, dataset, weights, key, checkpoint_sha256, imgsz,
                                                           work_dir, device, config)))
    lake.write_json(keys.evaluation_record_key(key), evaluation.to_json())
    # The checkpoint's latest evaluation, where the registry looks for a champion's stored numbers.
    lake.write_json(f"{keys.report_folder(checkpoint_sha256)}/eval.json", evaluation.to_json())
    if registry is not None and mlflow_run_id:
        log_to_mlflow(lake, registry, mlflow_run_id, evaluation, work_dir)
    return evaluation, True


def _evaluate(lake: Lake, dataset: DatasetVersion, weights: Path, key: str, checkpoint_sha256: str, imgsz: int,
              work_dir: Path, device: str, config: EvaluationConfig) -> dict:
    started = time.perf_counter()
    inference = config.inference.with_imgsz(imgsz)
    classes = list(dataset.class_names)
    folder = keys.evaluation_folder(key)
    test, gt, detections = detect_on_test_split(lake, dataset, weights, inference, work_dir=work_dir, device=device)
    detect_seconds = time.perf_counter() - started
    images = _images_table(lake, test)

    matched = match_detections(gt, detections)
    f1_curve, best_conf, best_f1 = f1_confidence(matched, gt, classes, CONFIDENCE_GRID)
    # A model that finds nothing has F1 0 at every confidence; "optimal" would then be an arbitrary extreme.
    chosen = config.choose_confidence and best_f1 > 0
    conf = best_conf if chosen else inference.conf
    slice_images = images.drop(columns=["video_sha256", "frame_index", "image_key", "image_path"])
    overall = evaluate_detections(gt, detections, images=slice_images, class_names=classes, score_threshold=conf)
    slices = slice_table(gt, detections, images=slice_images, class_names=classes, score_threshold=conf,
                         min_boxes=config.min_boxes)
    by = {column: {k: v.as_dict() for k, v in evaluate_by_slice(gt, detections, images=slice_images,
                                                                class_names=classes, slice_column=column,
                                                                score_threshold=conf).items()}
          for column in ("scene", "lighting")}
    per_class_ap_ = {k: finite_number(v) for k, v in per_class_ap(gt, detections, images=slice_images, class_names=classes).items()}
    per_class = _per_class(slices, precision_recall_at(matched, gt, classes, conf))
    matrix = confusion_matrix(gt, detections, classes, confidence=conf)
    plots = {
        "pr_curves": lake.write_bytes(f"{folder}/plots/pr_curves.png", render_pr_curves(pr_curves(matched, gt, classes))),
        "f1_confidence": lake.write_bytes(f"{folder}/plots/f1_confidence.png", render_f1_curve(f1_curve, best_conf)),
        "confusion_matrix": lake.write_bytes(f"{folder}/plots/confusion_matrix.png", render_confusion_matrix(matrix)),
    }
    detections_key = _write_parquet(lake, f"{folder}/detections.parquet", detections)

    errors = [_with_crops(lake, detection_error_rows(gt, detections, images, confidence=conf), test)]
    tracking, replays, track_seconds, minutes = {}, {}, 0.0, 0.0
    if config.tracking:
        tracking, replays, track_errors, track_seconds, minutes = _track(lake, test, classes, weights, inference,
                                                                         folder, work_dir, device, config)
        errors.append(track_errors)
    table = pd.concat([e for e in errors if len(e)], ignore_index=True) if any(len(e) for e in errors) else empty_table()
    lake.write_table(keys.EVAL_ERRORS, table, {"evaluation": key})
    full = {"test": test, "ground_truth": gt, "detections": detections}
    montage = error_montage(full, score_threshold=conf)
    montage_key = lake.write_bytes(f"{keys.report_folder(checkpoint_sha256)}/errors.jpg", montage) if montage else None

    stats = overall.stats
    return {
        "evaluation_key": key,
        "checkpoint_sha256": checkpoint_sha256,
        "dataset_version": dataset.version,
        "test_split_hash": test_split_hash(test),
        "test_set_hash": test_set_hash(test, gt),
        "test_images": int(len(test)),
        "evaluation_config": config.as_dict(),
        "inference_config": {"imgsz": inference.imgsz, "conf": float(conf), "iou": inference.iou,
                             "max_det": inference.max_det, "class_names": classes, "tracker": inference.tracker},
        "confidence": {"chosen": float(conf), "how": "f1_optimal" if chosen else "configured",
                       "f1_optimal": best_conf, "best_f1": best_f1},
        "overall": {**overall.as_dict(), "map_small": stats[3] if stats[3] >= 0 else None,
                    "map_medium": stats[4] if stats[4] >= 0 else None, "map_large": stats[5] if stats[5] >= 0 else None},
        "by_scene": by["scene"],
        "by_lighting": by["lighting"],
        "per_class_ap50_95": per_class_ap_,
        "per_class": per_class,
        "slices": slice_records(slices),
        "confusion_matrix": {"labels": list(matrix.index), "rows_predicted_columns_true": matrix.to_numpy().tolist()},
        "plots": plots,
        "tracking": tracking,
        "replays": replays,
        "errors": {"table": keys.table_key(keys.EVAL_ERRORS, {"evaluation": key}),
                   "counts": {k: int((table["kind"] == k).sum()) for k in KINDS},
                   "worst": _worst_records(table, config.worst_per_kind)},
        "error_samples": montage_key,
        "detections": detections_key,
        "seconds": {"detection": round(detect_seconds, 3), "tracking": round(track_seconds, 3),
                    "total": round(time.perf_counter() - started, 3), "video_minutes": round(minutes, 4)},
    }


def _images_table(lake: Lake, test: pd.DataFrame) -> pd.DataFrame:
    """One row per test image: id, size, where it comes from, and every slice field (manifest and sidecar)."""
    images = test.rename(columns={"sample_id": "image_id"})[
        ["image_id", "width", "height", "scene", "day", "lighting", "video_sha256", "frame_index", "image_key",
         "image_path"]].copy()
    images["lighting"] = images["lighting"].replace("", "unknown")
    raw = lake.read_tables(keys.RAW_VIDEOS, test[["scene", "day"]].drop_duplicates().to_dict("records"))
    if raw.empty:
        return images
    raw = raw.drop_duplicates("video_sha256").set_index("video_sha256")
    fields: dict[str, dict] = {}
    for sha, row in raw.iterrows():
        sidecar = json.loads(row.get("sidecar") or "{}") if isinstance(row.get("sidecar"), str) else {}
        values = {"weather": row.get("weather", ""), "device": row.get("device", ""), **sidecar}
        for name, value in values.items():
            if name not in _NOT_SLICES and isinstance(value, str | int | float | bool):
                fields.setdefault(name, {})[sha] = str(value)
    for name, values in fields.items():
        images[name] = images["video_sha256"].map(values).fillna("")
    return images


def _per_class(slices: pd.DataFrame, at_conf: pd.DataFrame) -> list[dict]:
    rows = slices[slices["dimension"] == "class"].set_index("value")
    out = []
    for r in at_conf.itertuples(index=False):
        s = rows.loc[r.class_name]
        out.append({"class_name": r.class_name, "n_boxes": int(s["n_boxes"]), "ap50_95": finite_number(s["map50_95"]),
                    "ap50": finite_number(s["map50"]), "ap75": finite_number(s["map75"]), "precision": finite_number(r.precision),
                    "recall": finite_number(r.recall), "f1": finite_number(r.f1), "tp": int(r.tp), "fp": int(r.fp), "fn": int(r.fn)})
    return out


def _with_crops(lake: Lake, rows: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Each detection error's crop/overlay JPEG stored by content; each image read once."""
    if rows.empty:
        return rows
    rows = rows.copy()
    paths = dict(zip(test["sample_id"], test["image_path"]))
    for image_id, group in rows.groupby("image_id", sort=False):
        image = cv2.imread(paths[image_id])
        if image is None:
            continue
        for index, row in group.iterrows():
            rows.at[index, "crop_key"] = lake.put_blob_bytes(keys.ERROR_BLOBS, crop_overlay(image, row), ".jpg")[1]
    return rows


def _track(lake, test, classes, weights, inference, folder, work_dir, device, config):
    started = time.perf_counter()
    videos = test_videos(lake, test, classes)
    predictions, replays, errors = {}, {}, []
    for video in videos:
        path = lake.local_copy(video.stored_path, work_dir / "videos")
        predictions[video.video_sha256] = track_video(weights, path, video, inference, work_dir=work_dir, device=device)
    seconds = time.perf_counter() - started
    for video in videos:
        preds = predictions[video.video_sha256]
        rows = identity_error_rows(video_identity_errors(video, preds), video_sha256=video.video_sha256,
                                   scene=video.scene, lighting=video.lighting,
                                   image_diagonal=float(np.hypot(video.width, video.height)))
        if config.replays:
            path = lake.local_copy(video.stored_path, work_dir / "videos")
            mp4 = temporary_mp4(work_dir / "replays")
            try:
                crops = write_replay(path, video, preds, rows, mp4)
                replays[video.video_sha256] = lake.put_file(f"{folder}/replays/{video.video_sha256[:16]}.mp4", mp4)
            finally:
                mp4.unlink(missing_ok=True)
            for index, jpeg in crops.items():
                rows.at[index, "crop_key"] = lake.put_blob_bytes(keys.ERROR_BLOBS, jpeg, ".jpg")[1]
        errors.append(rows)
    tracking = score_videos(videos, predictions)
    tracking["tracker"] = inference.tracker
    tracking["videos"] = [{"video_sha256": v.video_sha256, "scene": v.scene, "lighting": v.lighting,
                           "frames": [v.first_frame, v.last_frame], "skipped_frames": len(v.skipped_frames),
                           "seconds": round(v.seconds, 3)} for v in videos]
    table = pd.concat(errors, ignore_index=True) if errors else empty_table()
    return tracking, replays, table, seconds, sum(v.seconds for v in videos) / 60


def _worst_records(table: pd.DataFrame, per_kind: int) -> list[dict]:
    rows = worst(table, per_kind)
    out = []
    for row in rows.to_dict("records"):
        out.append({**json_ready(row), "caption": caption(row)})
    return out


def _write_parquet(lake: Lake, key: str, df: pd.DataFrame) -> str:
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    return lake.write_bytes(key, buffer.getvalue())


def log_to_mlflow(lake: Lake, registry, run_id: str, evaluation: Evaluation, work_dir: Path) -> None:
    """Test metrics and the evaluation's files (report, plots) on the checkpoint's MLflow run."""
    metrics = {f"test_{k}": evaluation.overall[k] for k in TEST_METRICS}
    metrics["test_confidence"] = evaluation.inference_config["conf"]
    overall = evaluation.tracking_overall
    metrics.update({f"test_tracking_{k}": overall[k] for k in TRACK_METRICS_LOGGED
                    if finite_number(overall.get(k)) is not None})
    registry.log_metrics(run_id, metrics)
    staging = work_dir / "mlflow_evaluation" / evaluation.evaluation_key
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "eval.json").write_text(json.dumps(evaluation.to_json(), indent=1, sort_keys=True, default=str))
    artifact_path = f"evaluation/{evaluation.evaluation_key}"
    registry.log_artifact(run_id, staging / "eval.json", artifact_path)
    for name, key in evaluation.plots.items():
        target = staging / f"{name}.png"
        target.write_bytes(lake.fs.cat_file(lake.path(key)))
        registry.log_artifact(run_id, target, artifact_path)
