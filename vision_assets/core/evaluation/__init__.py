"""evaluation"""

from vision_assets.core.evaluation.metrics import (
    DetectionMetrics,
    evaluate_by_slice,
    evaluate_detections,
    load_coco_files,
    per_class_ap,
)
from vision_assets.core.evaluation.report import error_montage

__all__ = [
    "DetectionMetrics",
    "error_montage",
    "evaluate_by_slice",
    "evaluate_detections",
    "load_coco_files",
    "per_class_ap",
]
