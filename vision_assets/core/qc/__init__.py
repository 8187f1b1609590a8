"""Quality checks on annotation tables (row rules, table expectations, file audits); `@qc_rule` is the plugin hook.

Names load on first use (PEP 562): importing one of them imports only its submodule."""

from vision_assets.lazy import lazy_exports

_EXPORTS = {
    "audit_labels": "audit",
    "RULES": "engine",
    "QcConfig": "engine",
    "QcContext": "engine",
    "QcResult": "engine",
    "QcRule": "engine",
    "qc_rule": "engine",
    "run_qc": "engine",
    "summarise": "engine",
    "KNOWN_SOURCE_FORMATS": "expectations",
    "annotation_suite": "expectations",
    "validate_table": "expectations",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
