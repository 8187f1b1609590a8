"""ingest"""

from vision_assets.core.ingest.landing import (
    dropped_labels_for,
    files_for_partition,
    label_files_for,
    label_fingerprint,
    partition_fingerprint,
    scan_label_drop_zone,
    scan_landing,
)
from vision_assets.core.ingest.report import ingest_report, label_drop_report
from vision_assets.core.ingest.videos import (
    NEAR_DUPLICATE_DISTANCE,
    RAW_VIDEO_COLUMNS,
    IngestOptions,
    ingest_partition,
    usable_videos,
)

__all__ = [
    "IngestOptions",
    "NEAR_DUPLICATE_DISTANCE",
    "RAW_VIDEO_COLUMNS",
    "dropped_labels_for",
    "files_for_partition",
    "ingest_partition",
    "ingest_report",
    "label_drop_report",
    "label_files_for",
    "label_fingerprint",
    "partition_fingerprint",
    "scan_label_drop_zone",
    "scan_landing",
    "usable_videos",
]
