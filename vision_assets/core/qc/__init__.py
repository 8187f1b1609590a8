"""Quality checks on annotation tables (row rules, table expectations, file audits); `@qc_rule` is the plugin hook."""

from vision_assets.core.qc.audit import audit_labels
from vision_assets.core.qc.engine import RULES, QcConfig, QcContext, QcResult, QcRule, qc_rule, run_qc, summarise
from vision_assets.core.qc.expectations import KNOWN_SOURCE_FORMATS, annotation_suite, validate_table

__all__ = [
    "KNOWN_SOURCE_FORMATS", "RULES", "QcConfig", "QcContext", "QcResult", "QcRule", "annotation_suite",
    "audit_labels", "qc_rule", "run_qc", "summarise", "validate_table",
]
