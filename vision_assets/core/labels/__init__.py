"""Labels: every supported format (formats/), the canonical annotation table and its schema, per-partition import.

Names load on first use (PEP 562): importing one of them imports only its submodule."""

from vision_assets.lazy import lazy_exports

_EXPORTS = {
    "FORMATS": "canonical",
    "AnnotationFormatError": "canonical",
    "detect_format": "canonical",
    "empty_annotations": "canonical",
    "label_version": "canonical",
    "read_annotations": "canonical",
    "write_annotations": "canonical",
    "ANNOTATION_COLUMNS": "schema",
    "ANNOTATION_DEFAULTS": "schema",
    "ANNOTATION_DTYPES": "schema",
    "DEFAULT_TAXONOMY": "schema",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
