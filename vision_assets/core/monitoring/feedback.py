"""Drift feeds the loop: which partitions' hard examples are mined first (drifting_partitions) and which queue a
labeller takes first (labelling_order)."""

from __future__ import annotations

import pandas as pd

from vision_assets.core.lake import Lake, keys
from vision_assets.core.monitoring.thresholds import DRIFT_P_VALUE
from vision_assets.core.scene_day_grid import DRIFT, IN_DISTRIBUTION, NO_VERDICT, NOT_MONITORED


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


ORDER_COLUMNS = ["rank", "scene", "day", "drift_verdict", "drift_p_value", "drift_score", "frames_queued",
                 "max_uncertainty", "mean_uncertainty", "champion_version", "queue_folder"]


def labelling_order(monitoring: pd.DataFrame | None, queues: pd.DataFrame | None, champion_version: str, *,
                    p_value: float = DRIFT_P_VALUE) -> pd.DataFrame:
    """Every labelling queue the current champion mined, in the order a labeller should take them: the queues of
    partitions whose footage drifted from the champion's training distribution first (smallest p-value first: new
    conditions the model has never been taught), then every other queue; within each, the queue whose most
    uncertain frame is most uncertain first (then the mean uncertainty, scene and day). A tie of p-values is common
    (a permutation test's smallest p-value is 1 / (permutations + 1)), so uncertainty breaks it.

    monitoring: footage_monitoring rows (scene, day, champion_version, drift_p_value, drift_score). queues: the
    hard_examples tables (one row per queued frame: scene, day, champion_version, uncertainty). Queues of an
    earlier champion and empty queues are left out (nothing to label, or ranked by a model no longer served); a
    partition the champion has not monitored yet keeps its place by uncertainty with the verdict "not monitored".
    """
    version = str(champion_version)
    if queues is None or queues.empty:
        return pd.DataFrame(columns=ORDER_COLUMNS)
    mined = queues[queues["champion_version"].astype(str) == version]
    if mined.empty:
        return pd.DataFrame(columns=ORDER_COLUMNS)
    per_queue = mined.groupby(["scene", "day"], as_index=False).agg(
        frames_queued=("uncertainty", "size"), max_uncertainty=("uncertainty", "max"),
        mean_uncertainty=("uncertainty", "mean"))
    drift = pd.DataFrame(columns=["scene", "day", "drift_p_value", "drift_score"])
    if monitoring is not None and not monitoring.empty:
        drift = monitoring[monitoring["champion_version"].astype(str) == version][
            ["scene", "day", "drift_p_value", "drift_score"]].drop_duplicates(["scene", "day"], keep="last")
    order = per_queue.merge(drift, on=["scene", "day"], how="left", indicator="monitored")
    p = order["drift_p_value"].astype(float)
    order["drift_verdict"] = [NOT_MONITORED if m == "left_only" else NO_VERDICT if v != v else
                              DRIFT if v < p_value else IN_DISTRIBUTION for m, v in zip(order["monitored"], p)]
    order["drifting"] = order["drift_verdict"] == DRIFT
    # Only a drifting queue is ordered by its p-value; the others' p-values say only "no evidence of drift".
    order["drift_key"] = p.where(order["drifting"], 1.0)
    order = order.sort_values(["drifting", "drift_key", "max_uncertainty", "mean_uncertainty", "scene", "day"],
                              ascending=[False, True, False, False, True, True], kind="stable")
    order = order.assign(champion_version=version, rank=range(1, len(order) + 1),
                         queue_folder=[keys.labeling_queue_folder(s, d, version)
                                       for s, d in zip(order["scene"], order["day"])])
    return order[ORDER_COLUMNS].reset_index(drop=True)


def read_labelling_order(lake: Lake, champion_version: str, *, p_value: float = DRIFT_P_VALUE) -> pd.DataFrame:
    """labelling_order of the lake's footage_monitoring and hard_examples tables."""
    return labelling_order(lake.read_tables(keys.FOOTAGE_MONITORING), lake.read_tables(keys.HARD_EXAMPLES),
                           champion_version, p_value=p_value)
