"""The project file's schema: each section's keys with their defaults and the check of their values.

A check returns the value (normalised) or raises InvalidOption (a ValueError) saying what was expected;
project_config names the file and the key around it. Pure (no Dagster, no training libraries)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from vision_assets.core.errors import InvalidOption


def show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value) if not isinstance(value, bool) else str(value).lower()


def integer(minimum: int | None = None, what: str = "an integer") -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
            raise InvalidOption(problem=f"must be {what}, got {show(value)}")
        return value
    return check


def number(low: float | None = None, high: float | None = None, what: str = "a number") -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value \
                or (low is not None and value < low) or (high is not None and value > high):
            raise InvalidOption(problem=f"must be {what}, got {show(value)}")
        return float(value)
    return check


def non_empty_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidOption(problem=f"must be a non-empty string, got {show(value)}")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidOption(problem=f"must be true or false, got {show(value)}")
    return value


def optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def one_of(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise InvalidOption(problem=f"must be one of {', '.join(choices)}, got {show(value)}")
        return value
    return check


def mapping(value: Any) -> dict:
    if not isinstance(value, dict):
        raise InvalidOption(problem=f"must be a mapping, got {show(value)}")
    return value


POSITIVE = integer(1, "a positive integer")
NON_NEGATIVE = integer(0, "an integer >= 0")
FRACTION = number(0.0, 1.0, "a number from 0 to 1")
NON_NEGATIVE_NUMBER = number(0.0, None, "a number >= 0")

# Every TrainConfig option (tests/test_project_config.py keeps this list equal to TrainConfig's fields), plus a
# sweep file. Paths (model ending in .pt, sweep_space) are resolved against the project file's folder.
TRAINING: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "model": ("yolov8n.yaml", non_empty_text),
    "epochs": (20, POSITIVE),
    "imgsz": (256, integer(32, "an integer >= 32")),
    "batch": (16, POSITIVE),
    "seed": (0, NON_NEGATIVE),
    "device": ("auto", non_empty_text),
    "workers": (2, NON_NEGATIVE),
    "optimizer": ("AdamW", non_empty_text),
    "lr0": (0.003, number(0.0, None, "a number > 0")),
    "patience": (50, POSITIVE),
    "val_every": (1, POSITIVE),
    "mosaic": (1.0, FRACTION),
    "close_mosaic": (5, NON_NEGATIVE),
    "mixup": (0.0, FRACTION),
    "hsv_h": (0.015, FRACTION),
    "hsv_s": (0.7, FRACTION),
    "hsv_v": (0.4, FRACTION),
    "fliplr": (0.5, FRACTION),
    "flipud": (0.0, FRACTION),
    "scale": (0.5, NON_NEGATIVE_NUMBER),
    "amp": (None, optional(boolean)),
    "sweep_space": ("", lambda v: "" if v in (None, "") else non_empty_text(v)),
}
RETRAIN = {"min_new_labels": (200, POSITIVE)}
PROMOTION = {
    "min_map50_95": (0.0, FRACTION),  # under it a version is registered but never champion (the first one too)
    "min_map50": (0.0, FRACTION),  # the evaluation floor: under it a version is not registered at all
    "margin": (0.0, NON_NEGATIVE_NUMBER),
    "slice_tolerance": (0.05, NON_NEGATIVE_NUMBER),
    "tracking_tolerance": (0.05, NON_NEGATIVE_NUMBER),
    "min_boxes": (20, NON_NEGATIVE),
}
# Online accuracy after delivery (footage_monitoring on returned labels): below a floor, a retrain is requested.
MONITORING = {
    "min_online_precision": (0.5, FRACTION),  # 1 - precision is the online false-alarm rate
    "min_online_recall": (0.5, FRACTION),  # 1 - recall is the online miss rate
    "min_online_boxes": (10, POSITIVE),  # a rate is judged on at least this many boxes (detections / labelled boxes)
}
QC = {
    "min_pass_rate": (0.9, FRACTION),
    "min_agreement": (0.8, FRACTION),
    "duplicate_iou": (0.9, FRACTION),
    "max_gap_frames": (5.0, NON_NEGATIVE_NUMBER),
    "max_jump": (0.5, NON_NEGATIVE_NUMBER),
    "review_share": (0.05, FRACTION),
}
INGEST = {
    "normalise": (False, boolean),
    "normalise_codec": ("h264", non_empty_text),
    "normalise_fps": (None, optional(number(0.0, None, "a number > 0"))),
    "normalise_max_height": (None, optional(POSITIVE)),
    "near_duplicate_distance": (24.0, NON_NEGATIVE_NUMBER),  # core.ingest.NEAR_DUPLICATE_DISTANCE
}
SCENE_SAMPLING = {
    "strategy": ("fixed_interval", non_empty_text),
    "params": ({}, mapping),
    "near_duplicate_distance": (4, NON_NEGATIVE),
    "blur_faces": (False, boolean),
    "blur_plates": (False, boolean),
}
DEFAULT_SAMPLING = {"strategy": "fixed_interval", "params": {"every_seconds": 0.5}}
SECTIONS = ("classes", "training", "retrain", "promotion", "qc", "ingest", "sampling", "retention", "monitoring")
VIDEO_POLICY_SECTIONS = ("ingest", "sampling", "retention")
# Environment variables that override one value for one run.
ENV_OVERRIDES = {"VISION_EPOCHS": ("training", "epochs"), "VISION_IMGSZ": ("training", "imgsz"),
                 "VISION_DEVICE": ("training", "device")}
