"""A canary whose online rates on its scenes' returned labels breach the project's floors is rolled back, and the
audit says which scene-day and which rate: the decision on a constructed monitoring summary, the rollback on a real
MLflow registry (SQLite) and a real lake."""

from __future__ import annotations

import pytest
from registry_helpers import register

from vision_assets.core.lake import Lake
from vision_assets.core.monitoring.canary import canary_failure, rollback_canary, start_canary
from vision_assets.core.registry import DEFAULT_MODEL_NAME, ModelRegistry, read_audit

FLOORS = {"min_online_precision": 0.5, "min_online_recall": 0.6, "min_online_boxes": 10}


def summary(champion: float = 0.9, **canary_online) -> dict:
    """footage_monitoring's summary of a partition where the canary agrees with the champion (shadow and detection
    rate fine) and the champion's online precision and recall are `champion`; the canary's online counts are what
    the test gives."""
    row = {"scene": "campus", "day": "2026-03-02", "shadow_disagreement_rate": 0.1,
           "challenger_detections_per_frame": 1.0, "detection_band_low": 0.5, "detection_band_high": 1.5,
           "online_precision": champion, "online_recall": champion,
           "challenger_online_label_version": "abc123def4567890"}
    return row | {f"challenger_online_{k}": v for k, v in canary_online.items()}


def test_an_online_rate_below_its_floor_on_enough_boxes_fails_the_canary():
    false_alarms = summary(precision=6 / 20, detections=20, recall=6 / 8, labelled_boxes=8)

    assert canary_failure(false_alarms, online_floors=FLOORS) == (
        "campus/2026-03-02: online false-alarm rate 70.0% (precision 0.300 below the floor 0.5 and the champion's 0.900 on 20 detections, "
        "label version abc123def456)")
    misses = summary(precision=9 / 10, detections=10, recall=9 / 30, labelled_boxes=30)
    assert canary_failure(misses, online_floors=FLOORS) == (
        "campus/2026-03-02: online miss rate 70.0% (recall 0.300 below the floor 0.6 and the champion's 0.900 on 30 labelled boxes, "
        "label version abc123def456)")
    # Recall 6/8 judged on 8 labelled boxes and precision 2/9 on 9 detections: too few boxes to say either way.
    assert canary_failure(summary(precision=2 / 9, detections=9, recall=0.0, labelled_boxes=8),
                          online_floors=FLOORS) == ""
    assert canary_failure(summary(precision=0.8, detections=40, recall=0.7, labelled_boxes=40),
                          online_floors=FLOORS) == ""
    # No labels returned: undefined rates (NaN) are not a failure.
    assert canary_failure(summary(precision=float("nan"), detections=0, recall=float("nan"), labelled_boxes=0),
                          online_floors=FLOORS) == ""
    assert canary_failure(false_alarms) == ""  # without floors only the shadow rules judge


def test_a_canary_below_the_floor_but_no_worse_than_the_champion_is_kept():
    # The same weights in a new package: the same rates as the champion, below the floor on both. Rolling back would
    # hand the scene to a champion no better (whose own breach already asks for a retrain).
    same = summary(champion=0.0, precision=float("nan"), detections=0, recall=0.0, labelled_boxes=62)
    assert canary_failure(same, online_floors=FLOORS) == ""
    assert canary_failure(summary(champion=0.1, precision=0.3, detections=20, recall=0.3, labelled_boxes=20),
                          online_floors=FLOORS) == ""  # better than the champion: kept
    # A champion without a defined precision (it detected nothing): the floor alone judges the canary.
    undefined = summary(champion=float("nan"), precision=0.3, detections=20, recall=0.9, labelled_boxes=20)
    assert canary_failure(undefined, online_floors=FLOORS) == (
        "campus/2026-03-02: online false-alarm rate 70.0% (precision 0.300 below the floor 0.5 on 20 detections, "
        "label version abc123def456)")


def test_shadow_and_online_reasons_are_reported_together():
    both = summary(precision=0.2, detections=50, recall=0.1, labelled_boxes=50) | {"shadow_disagreement_rate": 0.75}

    reasons = canary_failure(both, online_floors=FLOORS).removeprefix("campus/2026-03-02: ").split("; ")

    assert reasons == ["disagrees with the champion on 75% of boxes (at most 50%)",
                       "online false-alarm rate 80.0% (precision 0.200 below the floor 0.5 and the champion's 0.900 on 50 detections, "
                       "label version abc123def456)",
                       "online miss rate 90.0% (recall 0.100 below the floor 0.6 and the champion's 0.900 on 50 labelled boxes, "
                       "label version abc123def456)"]


@pytest.fixture
def registry(tmp_path):
    registry = ModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "artifacts"))
    for n in (1, 2):
        register(registry, tmp_path, n, gate="pass")
    registry.promote(DEFAULT_MODEL_NAME, "1")
    return registry


def test_the_rollback_names_the_scene_day_and_the_rate_in_the_audit(registry, tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    start_canary(registry, lake, DEFAULT_MODEL_NAME, "2", ["campus"], reason="new anchors")
    failure = canary_failure(summary(precision=0.3, detections=20, recall=0.9, labelled_boxes=20),
                             online_floors=FLOORS)

    rollback_canary(registry, lake, DEFAULT_MODEL_NAME, "2", failure)

    assert registry.by_alias(DEFAULT_MODEL_NAME, "canary") is None
    assert str(registry.champion(DEFAULT_MODEL_NAME).version) == "1"  # the champion serves on
    assert registry.get_version(DEFAULT_MODEL_NAME, "2").tags["canary_rolled_back"] == failure
    events = read_audit(lake)
    assert events[["action", "object"]].values.tolist() == [["canary", f"{DEFAULT_MODEL_NAME} v2"],
                                                            ["canary_rollback", f"{DEFAULT_MODEL_NAME} v2"]]
    assert events["reason"].iloc[-1] == (
        "campus/2026-03-02: online false-alarm rate 70.0% (precision 0.300 below the floor 0.5 and the champion's 0.900 on 20 detections, "
        "label version abc123def456)")
