"""Ultralytics' own trackers, configured from the yaml its package ships (no download), on detections of two
objects with known motion: the tracks they give, scored by the project's tracking metrics, are perfect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vision_assets.core.evaluation.inference import TRACKERS, InferenceConfig, _tracker_yaml
from vision_assets.core.evaluation.tracking import evaluate_tracking


def known_tracks(frames: int = 20) -> pd.DataFrame:
    rows = []
    for f in range(frames):
        rows.append((f, 1, 10.0 + 5 * f, 10.0, 40.0 + 5 * f, 50.0))
        rows.append((f, 2, 200.0 - 4 * f, 120.0, 230.0 - 4 * f, 170.0))
    return pd.DataFrame(rows, columns=["frame", "track_id", "x1", "y1", "x2", "y2"])


@pytest.mark.parametrize("name", TRACKERS)
def test_ultralytics_tracker_keeps_known_identities(name):
    from ultralytics.engine.results import Boxes
    from ultralytics.trackers.track import TRACKER_MAP
    from ultralytics.utils import YAML, IterableSimpleNamespace

    cfg = IterableSimpleNamespace(**YAML.load(_tracker_yaml(name)))
    cfg.device = "cpu"
    tracker = TRACKER_MAP[cfg.tracker_type](args=cfg)
    gt = known_tracks()
    predictions = []
    image = np.zeros((240, 320, 3), np.uint8)
    for frame, boxes in gt.groupby("frame"):
        data = np.column_stack([boxes[["x1", "y1", "x2", "y2"]].to_numpy(), np.full(len(boxes), 0.9),
                                np.zeros(len(boxes))])
        for x1, y1, x2, y2, track_id, *_ in tracker.update(Boxes(data, image.shape[:2]).cpu().numpy(), image):
            predictions.append((frame, int(track_id), x1, y1, x2, y2))
    predictions = pd.DataFrame(predictions, columns=["frame", "track_id", "x1", "y1", "x2", "y2"])

    metrics = evaluate_tracking(gt, predictions)
    assert metrics["num_switches"] == 0 and metrics["num_fragmentations"] == 0
    assert predictions["track_id"].nunique() == 2
    # ByteTrack confirms a new track on its first frame; both trackers then follow every box.
    assert metrics["idf1"] > 0.95 and metrics["mota"] > 0.95


def test_unknown_tracker_and_bad_thresholds_are_refused():
    with pytest.raises(ValueError, match="tracker 'deepsort'"):
        InferenceConfig(tracker="deepsort")
    with pytest.raises(ValueError, match="iou must lie in"):
        InferenceConfig(iou=1.5)


def test_fingerprint_ignores_image_size_and_batch_but_not_thresholds():
    base = InferenceConfig()
    assert InferenceConfig(imgsz=640, batch=2).fingerprint() == base.fingerprint()
    assert InferenceConfig(iou=0.5).fingerprint() != base.fingerprint()
    assert InferenceConfig(tracker="botsort").fingerprint() != base.fingerprint()
