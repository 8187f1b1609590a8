"""monitor_partition with real (untrained, biased) YOLO checkpoints on real JPEGs in a real lake: the baseline is
made once and cached, the summary row lands in the lake, and a challenger that names every box differently
disagrees on every box while the champion against itself disagrees on none."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from evaluation_helpers import confident_weights
from helpers import texture

from vision_assets.core.lake import Lake, keys
from vision_assets.core.monitoring.partition import Model, champion_baseline, monitor_partition


def renamed_class_weights(tmp_path, source):
    """The same network with its confident class moved from 0 to 1: identical boxes, another class on each."""
    from vision_assets.core.training.environment import ultralytics_yolo

    model = ultralytics_yolo(tmp_path / "work")(str(source))
    for branch in model.model.model[-1].cv3:
        branch[-1].bias.data[0], branch[-1].bias.data[1] = -10.0, 8.0
    weights = tmp_path / "renamed.pt"
    model.save(str(weights))
    return weights


@pytest.fixture
def lake_with_frames(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    rows = []
    for i in range(8):
        key = f"blobs/frames/t/{i:02d}.jpg"
        lake.local_path(key).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(lake.local_path(key)), texture(i, (96, 64)))
        rows.append({"sample_id": f"s{i}", "image_path": key, "scene": "cam", "split": "train" if i < 5 else "test"})
    manifest = pd.DataFrame(rows)
    lake.write_table(keys.DATASET_MANIFEST, manifest, {"version": "v1"})
    lake.write_table(keys.SAMPLED_FRAMES, manifest[manifest["split"] == "test"][["image_path"]], {"scene": "cam",
                                                                                                 "day": "d"})
    return lake


def test_monitoring_a_partition_with_a_challenger_in_shadow(tmp_path, lake_with_frames):
    lake, work = lake_with_frames, tmp_path / "work"
    champion = Model("1", confident_weights(tmp_path), "c" * 64)
    manifest_key = keys.table_key(keys.DATASET_MANIFEST, {"version": "v1"})

    baseline = champion_baseline(lake, champion, manifest_key, imgsz=64, work_dir=work, device="cpu")
    cached = champion_baseline(lake, champion, "no/such/manifest", imgsz=64, work_dir=work, device="cpu")

    assert baseline.frames == 5 and baseline.embeddings.shape[0] == 5 and baseline.embeddings.shape[1] > 8
    assert lake.exists(keys.monitoring_baseline_key("c" * 64))
    np.testing.assert_array_equal(cached.embeddings, baseline.embeddings)
    assert cached.scenes.tolist() == ["cam"] * 5

    challenger = Model("2", renamed_class_weights(tmp_path, champion.weights), "d" * 64)
    summary = monitor_partition(lake, "cam", "d", champion, baseline, imgsz=64, work_dir=work, device="cpu",
                                challenger=challenger, permutations=50)
    itself = monitor_partition(lake, "cam", "d", champion, baseline, imgsz=64, work_dir=work, device="cpu",
                               challenger=Model("3", champion.weights, "c" * 64), permutations=50)

    assert summary["frames"] == 3 and summary["baseline_reference"] == "cam" and summary["baseline_frames"] == 5
    assert summary["detections"] > 0 and set(summary["detections_per_frame_by_class"]) == {"car"}
    assert 0 < summary["drift_p_value"] <= 1 and summary["drift_permutations"] == 50
    assert summary["latency_p50_ms"] > 0 and summary["challenger_latency_p95_ms"] > 0
    shadow = pd.DataFrame(summary["shadow_by_class"]).set_index("class_name")
    assert shadow.loc["car", "class_changes"] == summary["detections"] and shadow.loc["car", "unmatched"] == 0
    assert summary["shadow_disagreement_rate"] == pytest.approx(0.5)  # each pair: 2 boxes, 1 class change
    assert itself["shadow_disagreement_rate"] == 0.0
    row = lake.read_table(keys.FOOTAGE_MONITORING, {"scene": "cam", "day": "d"})
    assert len(row) == 1 and row.loc[0, "challenger_version"] == "3"  # the latest run replaced the row


def test_a_partition_without_frames_gets_a_row_without_a_verdict(tmp_path, lake_with_frames):
    """Every video of a partition quarantined: no frames, still an answer (and no drift verdict on nothing)."""
    from vision_assets.core.monitoring.partition import Baseline

    lake = lake_with_frames
    baseline = Baseline(np.zeros((3, 4)), np.array([1, 1, 1]), 3, np.array(["cam"] * 3))
    summary = monitor_partition(lake, "cam", "empty-day", Model("1", tmp_path / "unused.pt", "c" * 64), baseline,
                                imgsz=64, work_dir=tmp_path / "work", device="cpu")

    assert summary["frames"] == 0 and summary["detections"] == 0 and summary["predictions_stable"]
    assert np.isnan(summary["drift_p_value"]) and np.isnan(summary["brightness_mean"])
    assert lake.read_table(keys.FOOTAGE_MONITORING, {"scene": "cam", "day": "empty-day"}).loc[0, "frames"] == 0
