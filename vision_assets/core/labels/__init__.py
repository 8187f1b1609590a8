"""Labels: every supported format (formats/), the canonical annotation table and its schema, per-partition import."""

from vision_assets.core.labels.canonical import (
    FORMATS,
    AnnotationFormatError,
    detect_format,
    empty_annotations,
    label_version,
    read_annotations,
    write_annotations,
)
from vision_assets.core.labels.schema import (
    ANNOTATION_COLUMNS,
    ANNOTATION_DEFAULTS,
    ANNOTATION_DTYPES,
    DEFAULT_TAXONOMY,
)

__all__ = [
    "ANNOTATION_COLUMNS",
    "ANNOTATION_DEFAULTS",
    "ANNOTATION_DTYPES",
    "DEFAULT_TAXONOMY",
    "AnnotationFormatError",
    "FORMATS",
    "detect_format",
    "empty_annotations",
    "label_version",
    "read_annotations",
    "write_annotations",
]
