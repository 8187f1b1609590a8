"""qc"""

from vision_assets.core.qc.audit import audit_labels
from vision_assets.core.qc.engine import QcConfig, run_qc, summarise
from vision_assets.core.qc.expectations import KNOWN_SOURCE_FORMATS, annotation_suite, validate_table

__all__ = ["audit_labels", "KNOWN_SOURCE_FORMATS", "QcConfig", "annotation_suite", "run_qc", "summarise", "validate_table"]
