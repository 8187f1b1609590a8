"""Online accuracy: once labels come back for footage a model served (a monitored scene x day), how often it raised
a false alarm and how often it missed there, at the operating point it serves with.

The labelled frames are those the dataset builder would train on (core.datasets.build): the partition's QC passed,
its frames from videos that were labelled, minus frames that lost a box to QC; one annotator's boxes per frame.
Frames of videos in a model's own dataset version are left out: they are training or test footage, not footage
the model met online. Boxes match as the evaluation matches them (same class, IoU >= 0.5, greedy by score).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vision_assets.core.datasets.build import REDUNDANT_BOX_RULES, one_annotator_per_frame
from vision_assets.core.evaluation.curves import match_detections
from vision_assets.core.evaluation.inference import InferenceConfig, predict_images
from vision_assets.core.lake import Lake, keys

ONLINE_IOU = 0.5
PREFIX = "online_"
BOX = ["x1", "y1", "x2", "y2"]


@dataclass(frozen=True)
class LabelledFrames:
    frames: pd.DataFrame  # image_id (the frame's lake key), video_sha256, frame_index
    ground_truth: pd.DataFrame  # image_id, class_name, x1, y1, x2, y2
    label_version: str


def served_config(package_dir: Path | None, tags: dict, imgsz: int) -> dict:
    """The operating point a registered version serves with: its package's inference_config.json (what the pyfunc
    reads), else the registry tags registered_model writes from it."""
    found = next(Path(package_dir).rglob("inference_config.json"), None) if package_dir else None
    if found is not None:
        config = json.loads(found.read_text())
        return {"imgsz": int(config["imgsz"]), "conf": float(config["conf"]), "iou": float(config["iou"]),
                "max_det": int(config["max_det"])}
    return {"imgsz": int(tags.get("imgsz", imgsz)), "conf": float(tags.get("conf_threshold", 0.25)),
            "iou": float(tags.get("iou_nms", 0.7)), "max_det": int(tags.get("max_det", 100))}


def labelled_frames(lake: Lake, scene: str, day: str, *, exclude_videos: set[str]) -> LabelledFrames | None:
    """The partition's QC-passed labelled frames outside exclude_videos, or None when there are none."""
    partition = {"scene": scene, "day": day}
    summary = lake.read_table(keys.QC_SUMMARY, partition)
    if summary is None or summary.empty or not bool(summary["passed"].iloc[0]):
        return None
    kept = lake.read_table(keys.QC_ANNOTATIONS, partition)
    rejected = lake.read_table(keys.QC_REJECTED, partition)
    frames = lake.read_table(keys.SAMPLED_FRAMES, partition)
    kept = kept if kept is not None else pd.DataFrame(columns=["video_sha256", "frame_index"])
    rejected = rejected if rejected is not None else pd.DataFrame(columns=["video_sha256", "frame_index", "reasons"])
    if frames is None or frames.empty:
        return None
    labelled = (set(kept["video_sha256"]) | set(rejected["video_sha256"])) - set(exclude_videos)
    frames = frames[frames["video_sha256"].isin(labelled)]
    if len(rejected) and "reasons" in rejected:
        redundant = rejected["reasons"].fillna("").str.split(";").map(lambda names: set(names) <= REDUNDANT_BOX_RULES)
        rejected = rejected[~redundant.astype(bool)]
    incomplete = set(zip(rejected["video_sha256"], rejected["frame_index"].astype(int)))
    frames = frames[[key not in incomplete for key in zip(frames["video_sha256"], frames["frame_index"].astype(int))]]
    if frames.empty:
        return None
    frames = frames.assign(image_id=frames["image_path"])[["image_id", "video_sha256", "frame_index"]]
    boxes = one_annotator_per_frame(kept).merge(frames, on=["video_sha256", "frame_index"])
    return LabelledFrames(frames.reset_index(drop=True), boxes[["image_id", "class_name", *BOX]].reset_index(drop=True),
                          str(summary["label_version"].iloc[0]))


def online_rates(ground_truth: pd.DataFrame, detections: pd.DataFrame, frames: int) -> dict:
    """Counts and rates, overall and per class, of detections (image_id, class_name, x1..y2, score: the served
    boxes, already at the operating point) against the labels. Precision is NaN without detections and recall NaN
    without labelled boxes: undefined, not bad."""
    matched = match_detections(ground_truth, detections, iou_threshold=ONLINE_IOU)
    classes = sorted(set(ground_truth["class_name"]) | set(detections["class_name"]))
    by_class = [_counts(name, int(matched.loc[matched["class_name"] == name, "tp"].sum()),
                        int((matched["class_name"] == name).sum()), int((ground_truth["class_name"] == name).sum()))
                for name in classes]
    overall = _counts("all", int(matched["tp"].sum()), len(matched), len(ground_truth))
    overall.pop("class_name")
    return {**{f"{PREFIX}{k}": v for k, v in overall.items()}, f"{PREFIX}frames": int(frames),
            f"{PREFIX}by_class": by_class}


def _counts(name: str, tp: int, detections: int, labelled: int) -> dict:
    precision = tp / detections if detections else float("nan")
    recall = tp / labelled if labelled else float("nan")
    return {"class_name": name, "tp": tp, "fp": detections - tp, "fn": labelled - tp, "detections": detections,
            "labelled_boxes": labelled, "precision": precision, "recall": recall,
            "false_alarm_rate": 1.0 - precision, "miss_rate": 1.0 - recall}


def no_online_rates() -> dict:
    """The columns of a partition without returned labels (every row of the table has them)."""
    nan = float("nan")
    return {f"{PREFIX}{k}": v for k, v in {"tp": 0, "fp": 0, "fn": 0, "detections": 0, "labelled_boxes": 0,
                                           "precision": nan, "recall": nan, "false_alarm_rate": nan,
                                           "miss_rate": nan, "frames": 0, "by_class": [], "conf": nan, "iou": nan,
                                           "max_det": nan, "label_version": ""}.items()}


def measure_online(lake: Lake, labelled: LabelledFrames, weights: Path, served: dict, *, work_dir: Path,
                   device: str = "auto") -> dict:
    """One model's online rates on the labelled frames, predicting as its package serves (conf, NMS IoU, max_det,
    imgsz)."""
    paths = [str(lake.local_copy(key, work_dir / "frames")) for key in labelled.frames["image_id"]]
    config = InferenceConfig(imgsz=int(served["imgsz"]), conf=float(served["conf"]), iou=float(served["iou"]),
                             max_det=int(served["max_det"]), predict_conf=float(served["conf"]))
    detections = predict_images(weights, paths, config, work_dir=work_dir, device=device)
    by_path = dict(zip(paths, labelled.frames["image_id"]))
    detections = detections.assign(image_id=detections["image_path"].map(by_path)).drop(columns=["image_path"])
    rates = online_rates(labelled.ground_truth, detections, len(paths))
    rates.update({f"{PREFIX}{k}": v for k, v in served.items() if k != "imgsz"},
                 **{f"{PREFIX}label_version": labelled.label_version})
    return rates


def online_breaches(row: dict, *, min_precision: float, min_recall: float, min_boxes: int) -> list[str]:
    """Why these online rates ask for a retrain ([] when they do not): precision or recall below its floor, each
    judged only on at least min_boxes boxes (detections for precision, labelled boxes for recall)."""
    found = []
    judged = ((f"{PREFIX}precision", min_precision, f"{PREFIX}detections"),
              (f"{PREFIX}recall", min_recall, f"{PREFIX}labelled_boxes"))
    for name, floor, support in judged:
        value, boxes = row.get(name, float("nan")), int(row.get(support, 0) or 0)
        if value == value and boxes >= min_boxes and value < floor:
            what = name.removeprefix(PREFIX)
            found.append(f"online {what} {value:.3f} < {floor:g} ({boxes} {support.removeprefix(PREFIX).replace('_', ' ')})")
    return found


def breached_partitions(monitoring: pd.DataFrame | None, champion_version: str, *, min_precision: float,
                        min_recall: float, min_boxes: int) -> list[dict]:
    """footage_monitoring rows of the current champion whose online rates fall below a floor: scene, day, the
    label version measured, the reasons; worst first (lowest of precision and recall)."""
    if monitoring is None or monitoring.empty or f"{PREFIX}precision" not in monitoring:
        return []
    rows = monitoring[monitoring["champion_version"].astype(str) == str(champion_version)]
    found = []
    for row in rows.to_dict("records"):
        reasons = online_breaches(row, min_precision=min_precision, min_recall=min_recall, min_boxes=min_boxes)
        if reasons:
            worst = np.nanmin([row[f"{PREFIX}precision"], row[f"{PREFIX}recall"]])
            found.append({"scene": row["scene"], "day": row["day"], "label_version": str(row[f"{PREFIX}label_version"]),
                          "champion_version": str(champion_version), "reasons": reasons, "worst": float(worst)})
    return sorted(found, key=lambda b: (b["worst"], b["scene"], b["day"]))


def breach_id(breach: dict) -> str:
    """One breach: a scene-day's labels (their version) measured against one champion."""
    return f"{breach['scene']}|{breach['day']}|v{breach['champion_version']}|{breach['label_version'][:12]}"
