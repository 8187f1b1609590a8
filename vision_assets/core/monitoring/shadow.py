"""Shadow A/B: how often a challenger disagrees with the champion on the same frames, per class."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vision_assets.core.geometry import pairwise_iou

MATCH_IOU = 0.5
BOX = ["x1", "y1", "x2", "y2"]


def _match(a: pd.DataFrame, b: pd.DataFrame, min_iou: float) -> list[tuple[int, int]]:
    """Greedy one-to-one matching by IoU (highest first), class-blind: a matched pair of classes is a class change."""
    if a.empty or b.empty:
        return []
    ious = pairwise_iou(a[BOX].to_numpy(float), b[BOX].to_numpy(float))
    pairs, used_a, used_b = [], set(), set()
    for flat in np.argsort(-ious, axis=None, kind="stable"):
        i, j = np.unravel_index(flat, ious.shape)
        if ious[i, j] < min_iou:
            break
        if i not in used_a and j not in used_b:
            pairs.append((int(i), int(j)))
            used_a.add(i)
            used_b.add(j)
    return pairs


def disagreement_by_class(champion: pd.DataFrame, challenger: pd.DataFrame, image_paths: list[str], *,
                          min_iou: float = MATCH_IOU) -> pd.DataFrame:
    """Per class: boxes of both models, unmatched boxes (either side), class changes and the disagreement rate
    (unmatched + class changes) / boxes. Detections: predict's table (image_path, class_name, x1..y2, score).
    A class change counts for the champion's class; unmatched boxes for their own model's class."""
    counts: dict[str, dict[str, int]] = {}

    def add(cls: str, field: str, k: int = 1) -> None:
        counts.setdefault(cls, {"boxes": 0, "unmatched": 0, "class_changes": 0})[field] += k

    by_a, by_b = dict(tuple(champion.groupby("image_path"))), dict(tuple(challenger.groupby("image_path")))
    empty = champion.iloc[0:0]
    for path in image_paths:
        a, b = by_a.get(path, empty).reset_index(drop=True), by_b.get(path, empty).reset_index(drop=True)
        for cls in list(a["class_name"]) + list(b["class_name"]):
            add(cls, "boxes")
        pairs = _match(a, b, min_iou)
        matched_a, matched_b = {i for i, _ in pairs}, {j for _, j in pairs}
        for i, j in pairs:
            if a.at[i, "class_name"] != b.at[j, "class_name"]:
                add(a.at[i, "class_name"], "class_changes")
        for i in set(range(len(a))) - matched_a:
            add(a.at[i, "class_name"], "unmatched")
        for j in set(range(len(b))) - matched_b:
            add(b.at[j, "class_name"], "unmatched")
    table = pd.DataFrame([{"class_name": c, **v} for c, v in sorted(counts.items())],
                         columns=["class_name", "boxes", "unmatched", "class_changes"])
    return table.assign(disagreement_rate=(table["unmatched"] + table["class_changes"]) / table["boxes"].clip(lower=1))
