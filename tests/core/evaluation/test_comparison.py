"""The candidate beside the champion: every slice and tracking number with its delta, regressions first."""

from __future__ import annotations

import pytest

from vision_assets.core.evaluation.comparison import COMPARISON_COLUMNS, compare_reports


def report(map_all, map_night, idf1, switches, split="s1"):
    return {
        "test_split_hash": split,
        "slices": [
            {"dimension": "all", "value": "all", "n_boxes": 100, "too_few": False, "map50_95": map_all,
             "map50": 0.8, "map75": 0.5, "precision": 0.9, "recall": 0.7},
            {"dimension": "lighting", "value": "night", "n_boxes": 8, "too_few": True, "map50_95": map_night,
             "map50": 0.6, "map75": 0.3, "precision": 0.7, "recall": 0.5},
        ],
        "tracking": {"overall": {"mota": 0.5, "motp": 0.2, "idf1": idf1, "idp": 0.6, "idr": 0.6, "hota": 0.4,
                                 "deta": 0.4, "assa": 0.4, "num_switches": switches, "num_fragmentations": 3,
                                 "n_boxes": 300},
                     "by_scene": {}, "by_lighting": {}},
    }


def test_regressions_come_first_worst_first_in_each_metrics_direction():
    champion = report(map_all=0.50, map_night=0.40, idf1=0.70, switches=4)
    candidate = report(map_all=0.55, map_night=0.30, idf1=0.60, switches=9)
    rows = compare_reports(champion, candidate)
    assert all(list(r) == COMPARISON_COLUMNS for r in rows)
    regressed = [(r["metric"], r["slice_dimension"], r["slice_value"]) for r in rows if r["regressed"]]
    # switches rose by 5 (worse: lower is better), night mAP fell 0.1, IDF1 fell 0.1: largest drop first
    assert regressed[0] == ("tracking_num_switches", "all", "all")
    assert set(regressed) == {("tracking_num_switches", "all", "all"), ("map50_95", "lighting", "night"),
                              ("tracking_idf1", "all", "all")}
    assert [r["regressed"] for r in rows[:3]] == [True] * 3 and not any(r["regressed"] for r in rows[3:])
    night = next(r for r in rows if r["metric"] == "map50_95" and r["slice_value"] == "night")
    assert (night["champion"], night["candidate"], night["n_boxes"], night["too_few"]) == (0.40, 0.30, 8, True)
    assert night["delta"] == pytest.approx(-0.10)
    overall = next(r for r in rows if r["metric"] == "map50_95" and r["slice_value"] == "all")
    assert overall["delta"] == pytest.approx(0.05) and not overall["regressed"]
    # 5 detection metrics x 2 slices + 10 tracking metrics on the overall group
    assert len(rows) == 20


def test_different_test_splits_do_not_compare():
    with pytest.raises(ValueError, match="only the same test images compare"):
        compare_reports(report(0.5, 0.4, 0.7, 4, split="s1"), report(0.5, 0.4, 0.7, 4, split="s2"))
