"""The model registry: the MLflow wrapper, the promotion gate and champion policy, the deployable package,
lineage of a model version (verified to the byte), forgetting videos, the audit trail and the summary of what
the lake and registry hold."""

from vision_assets.core.registry.audit import current_actor, read_audit, record_event
from vision_assets.core.registry.champion import (
    DECISION_TAG,
    GATE_TAG,
    PRIMARY_METRIC,
    ChampionNotEvaluated,
    champion_evaluation,
    decide_champion,
    gate_against_champion,
    record_decision,
)
from vision_assets.core.registry.gate import GateConfig, GateDecision, gate_decision
from vision_assets.core.registry.lineage import lineage_report, model_lineage
from vision_assets.core.registry.mlflow_registry import (
    CHALLENGER,
    CHAMPION,
    DEFAULT_MODEL_NAME,
    ModelRegistry,
    RegistryError,
    RegistryUnavailable,
)
from vision_assets.core.registry.redact import redact, redact_uri
from vision_assets.core.registry.summary import collect_summary, lake_counts, model_entries

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "ChampionNotEvaluated",
    "DECISION_TAG",
    "DEFAULT_MODEL_NAME",
    "GATE_TAG",
    "PRIMARY_METRIC",
    "GateConfig",
    "GateDecision",
    "ModelRegistry",
    "RegistryError",
    "RegistryUnavailable",
    "champion_evaluation",
    "collect_summary",
    "current_actor",
    "decide_champion",
    "gate_against_champion",
    "gate_decision",
    "lake_counts",
    "lineage_report",
    "model_entries",
    "model_lineage",
    "read_audit",
    "record_decision",
    "record_event",
    "redact",
    "redact_uri",
]
