"""ingest

Names load on first use (PEP 562): importing one of them imports only its submodule."""

from vision_assets.lazy import lazy_exports

_EXPORTS = {
    "dropped_labels_for": "landing",
    "files_for_partition": "landing",
    "label_files_for": "landing",
    "label_fingerprint": "landing",
    "partition_fingerprint": "landing",
    "scan_label_drop_zone": "landing",
    "scan_landing": "landing",
    "ingest_report": "report",
    "label_drop_report": "report",
    "NEAR_DUPLICATE_DISTANCE": "thresholds",
    "RAW_VIDEO_COLUMNS": "videos",
    "IngestOptions": "videos",
    "ingest_partition": "videos",
    "usable_videos": "videos",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
