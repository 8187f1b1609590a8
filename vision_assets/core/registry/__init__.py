"""The model registry: the MLflow wrapper, the promotion gate and champion policy, the deployable package,
lineage of a model version (verified to the byte), forgetting videos, the audit trail and the summary of what
the lake and registry hold.

Names load on first use (PEP 562): importing one of them imports only its submodule."""

# `redact` names both a submodule and its function: importing the submodule would bind the package attribute to the
# module before a lazy lookup could run, so the (light) function is bound here, as an eager import always did.
from vision_assets.core.registry.redact import redact as redact
from vision_assets.core.registry.redact import redact_uri as redact_uri
from vision_assets.lazy import lazy_exports

_EXPORTS = {
    "current_actor": "audit",
    "read_audit": "audit",
    "record_event": "audit",
    "DECISION_TAG": "champion",
    "GATE_TAG": "champion",
    "PRIMARY_METRIC": "champion",
    "ChampionNotEvaluated": "champion",
    "champion_evaluation": "champion",
    "decide_champion": "champion",
    "gate_against_champion": "champion",
    "record_decision": "champion",
    "GateConfig": "gate",
    "GateDecision": "gate",
    "gate_decision": "gate",
    "lineage_report": "lineage",
    "model_lineage": "lineage",
    "CHALLENGER": "mlflow_registry",
    "CHAMPION": "mlflow_registry",
    "DEFAULT_MODEL_NAME": "mlflow_registry",
    "ModelRegistry": "mlflow_registry",
    "RegistryError": "mlflow_registry",
    "RegistryUnavailable": "mlflow_registry",
    "collect_summary": "summary",
    "lake_counts": "summary",
    "model_entries": "summary",
}
__all__ = sorted([*_EXPORTS, "redact", "redact_uri"])
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
