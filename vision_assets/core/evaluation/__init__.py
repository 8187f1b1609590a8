"""evaluation

Names load on first use (PEP 562): importing one of them imports only its submodule."""

from vision_assets.lazy import lazy_exports

_EXPORTS = {
    "DetectionMetrics": "metrics",
    "evaluate_by_slice": "metrics",
    "evaluate_detections": "metrics",
    "load_coco_files": "metrics",
    "per_class_ap": "metrics",
    "error_montage": "report",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
