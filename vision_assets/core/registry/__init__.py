"""The model registry: the MLflow wrapper, the champion policy, lineage of a model version and the summary of
what the lake and registry hold."""

from vision_assets.core.registry.champion import (
    DECISION_TAG,
    PRIMARY_METRIC,
    champion_score_on,
    decide_champion,
    record_decision,
)
from vision_assets.core.registry.lineage import lineage_report, model_lineage
from vision_assets.core.registry.mlflow_registry import CHAMPION, DEFAULT_MODEL_NAME, ModelRegistry
from vision_assets.core.registry.summary import collect_summary, lake_counts, model_entries

__all__ = [
    "CHAMPION",
    "DECISION_TAG",
    "DEFAULT_MODEL_NAME",
    "PRIMARY_METRIC",
    "ModelRegistry",
    "champion_score_on",
    "collect_summary",
    "decide_champion",
    "lake_counts",
    "lineage_report",
    "model_entries",
    "model_lineage",
    "record_decision",
]
