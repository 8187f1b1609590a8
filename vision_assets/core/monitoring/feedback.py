"""Drift feeds the loop: which partitions' hard examples should be labelled first."""

from __future__ import annotations

import pandas as pd

from vision_assets.core.monitoring.drift import DRIFT_P_VALUE


def drifting_partitions(monitoring: pd.DataFrame, champion_version: str, *,
                        p_value: float = DRIFT_P_VALUE) -> pd.DataFrame:
    """The footage_monitoring rows of the current champion whose drift test rejected the training distribution,
    most drifting first (smallest p-value, then largest MMD score; scene and day break ties)."""
    if monitoring is None or monitoring.empty:
        return pd.DataFrame(columns=["scene", "day", "drift_p_value", "drift_score"])
    current = monitoring[(monitoring["champion_version"].astype(str) == str(champion_version))
                         & (monitoring["drift_p_value"] < p_value)]
    ordered = current.sort_values(["drift_p_value", "drift_score", "scene", "day"],
                                  ascending=[True, False, True, True])
    return ordered[["scene", "day", "drift_p_value", "drift_score"]].reset_index(drop=True)
