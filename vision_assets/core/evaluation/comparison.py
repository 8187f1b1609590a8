"""A candidate's evaluation side by side with the champion's on the same test split: every metric, every slice,
with deltas, the regressions first.

Rows: metric, slice_dimension, slice_value, champion, candidate, delta (candidate - champion), n_boxes (the
candidate's), too_few, regressed (worse by more than nothing, in the metric's own direction: MOTP as motmetrics
reports it, switches and fragmentations are better lower).
"""

from __future__ import annotations

from vision_assets.core.errors import VisionError
from vision_assets.core.numbers import finite_number

SLICE_METRICS = ("map50_95", "map50", "map75", "precision", "recall")
TRACK_METRICS = ("mota", "motp", "idf1", "idp", "idr", "hota", "deta", "assa", "num_switches", "num_fragmentations")
LOWER_IS_BETTER = frozenset({"motp", "num_switches", "num_fragmentations", "num_false_positives", "num_misses"})
COMPARISON_COLUMNS = ["metric", "slice_dimension", "slice_value", "champion", "candidate", "delta", "n_boxes",
                      "too_few", "regressed"]


class DifferentTestSplits(VisionError, ValueError):
    """Two evaluations on different test images: neither the comparison nor the gate puts them side by side."""


def compare_reports(champion: dict, candidate: dict) -> list[dict]:
    """COMPARISON_COLUMNS rows for every slice row and tracking group both evaluations have, regressions first
    (largest drop first), then the rest in report order. Raises ValueError for two different test splits."""
    if champion.get("test_split_hash") != candidate.get("test_split_hash"):
        raise DifferentTestSplits(f"the champion was evaluated on test split {champion.get('test_split_hash')}, the candidate "
                         f"on {candidate.get('test_split_hash')}: only the same test images compare")
    rows = []
    theirs = {(r["dimension"], r["value"]): r for r in champion.get("slices") or []}
    for ours in candidate.get("slices") or []:
        before = theirs.get((ours["dimension"], ours["value"]))
        if before is None:
            continue
        for metric in SLICE_METRICS:
            rows.append(_row(metric, ours["dimension"], ours["value"], before.get(metric), ours.get(metric),
                             ours.get("n_boxes"), bool(ours.get("too_few") or before.get("too_few"))))
    tracking_before, tracking_after = champion.get("tracking") or {}, candidate.get("tracking") or {}
    groups = [("all", "all", tracking_before.get("overall"), tracking_after.get("overall"))]
    for name, dimension in (("by_scene", "scene"), ("by_lighting", "lighting")):
        for value, after in (tracking_after.get(name) or {}).items():
            groups.append((dimension, value, (tracking_before.get(name) or {}).get(value), after))
    for dimension, value, before, after in groups:
        if not before or not after:
            continue
        for metric in TRACK_METRICS:
            rows.append(_row(f"tracking_{metric}", dimension, value, before.get(metric), after.get(metric),
                             after.get("n_boxes"), False))
    order = sorted(range(len(rows)), key=lambda i: (not rows[i]["regressed"],
                                                     _badness(rows[i]) if rows[i]["regressed"] else 0.0, i))
    return [rows[i] for i in order]


def _row(metric, dimension, value, before, after, n_boxes, too_few) -> dict:
    before, after = finite_number(before), finite_number(after)
    delta = None if before is None or after is None else after - before
    sign = -1.0 if metric.removeprefix("tracking_") in LOWER_IS_BETTER else 1.0
    return {"metric": metric, "slice_dimension": dimension, "slice_value": str(value), "champion": before,
            "candidate": after, "delta": delta, "n_boxes": None if n_boxes is None else int(n_boxes),
            "too_few": too_few, "regressed": delta is not None and sign * delta < 0}


def _badness(row: dict) -> float:
    """How far it fell, in the metric's direction (more negative = worse), so the worst regression sorts first."""
    sign = -1.0 if row["metric"].removeprefix("tracking_") in LOWER_IS_BETTER else 1.0
    return sign * row["delta"]
