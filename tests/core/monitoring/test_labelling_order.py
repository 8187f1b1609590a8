"""The labelling order across partitions, from real footage_monitoring and hard_examples tables in a lake: drifting
partitions first by p-value, then by the queue's uncertainty."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from vision_assets.core.lake import Lake, keys
from vision_assets.core.monitoring.feedback import read_labelling_order

CHAMPION = "3"


def monitored(lake: Lake, scene: str, day: str, p_value: float, score: float, champion: str = CHAMPION) -> None:
    row = {"scene": scene, "day": day, "champion_version": champion, "frames": 40, "drift_score": score,
           "drift_p_value": p_value, "detections_per_frame": 1.5}
    lake.write_table(keys.FOOTAGE_MONITORING, pd.DataFrame([row]), {"scene": scene, "day": day})


def mined(lake: Lake, scene: str, day: str, uncertainties: list[float], champion: str = CHAMPION) -> None:
    frames = pd.DataFrame({
        "frame_sha256": [f"{scene}{day}{i}" for i in range(len(uncertainties))],
        "video_sha256": "v" * 64, "frame_index": range(len(uncertainties)),
        "image_path": [f"blobs/frames/{scene}{day}{i}.jpg" for i in range(len(uncertainties))],
        "uncertainty": pd.Series(uncertainties, dtype=float), "detections": 1, "max_confidence": 0.5,
        "champion_version": champion})
    lake.write_table(keys.HARD_EXAMPLES, frames, {"scene": scene, "day": day})


def test_drifting_queues_come_first_by_p_value_then_every_queue_by_uncertainty(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    day1, day2 = "2026-01-01", "2026-01-02"
    monitored(lake, "campus", day1, 0.001, 0.2)
    mined(lake, "campus", day1, [0.3])  # the most drifting: first, though its frames are the least uncertain
    monitored(lake, "cam-a", day2, 0.004, 0.9)
    mined(lake, "cam-a", day2, [0.5, 0.2])
    monitored(lake, "cam-b", day1, 0.004, 0.1)  # the same p-value (a permutation test's floor): uncertainty decides
    mined(lake, "cam-b", day1, [0.9, 0.1])
    monitored(lake, "cam-a", day1, 0.4, 0.01)  # in distribution, the most uncertain queue of all: after the drifting
    mined(lake, "cam-a", day1, [0.95, 0.9, 0.8])
    monitored(lake, "cam-c", day1, 0.0001, 3.0, champion="2")  # drifted for the last champion: not monitored by v3
    mined(lake, "cam-c", day1, [0.7])
    monitored(lake, "cam-d", day1, 0.2, 0.02)  # the same max uncertainty as cam-c: the mean decides
    mined(lake, "cam-d", day1, [0.7, 0.1])
    monitored(lake, "cam-e", day1, float("nan"), float("nan"))  # under 2 frames: no verdict
    mined(lake, "cam-e", day1, [0.6])
    mined(lake, "old", day1, [0.99], champion="2")  # a queue the last champion ranked: not this champion's
    monitored(lake, "empty", day1, 0.0001, 5.0)
    mined(lake, "empty", day1, [])  # drifting, but nothing queued: nothing to label

    order = read_labelling_order(lake, CHAMPION)

    assert order[["rank", "scene", "day", "drift_verdict", "frames_queued", "max_uncertainty"]].values.tolist() == [
        [1, "campus", day1, "drift", 1, 0.3],
        [2, "cam-b", day1, "drift", 2, 0.9],
        [3, "cam-a", day2, "drift", 2, 0.5],
        [4, "cam-a", day1, "in distribution", 3, 0.95],
        [5, "cam-c", day1, "not monitored", 1, 0.7],
        [6, "cam-d", day1, "in distribution", 2, 0.7],
        [7, "cam-e", day1, "no verdict", 1, 0.6],
    ]
    first = order.iloc[0]
    assert (first["drift_p_value"], first["drift_score"], first["champion_version"]) == (0.001, 0.2, CHAMPION)
    assert first["queue_folder"] == f"labeling_queue/scene=campus/day={day1}/champion=v3"
    assert order.loc[order["scene"] == "cam-d", "mean_uncertainty"].item() == pytest.approx(0.4)
    assert math.isnan(order.loc[order["scene"] == "cam-c", "drift_p_value"].item())
    stricter = read_labelling_order(lake, CHAMPION, p_value=0.003)  # 0.004 is no longer drift
    assert stricter[["scene", "day"]].values.tolist()[:3] == [["campus", day1], ["cam-a", day1], ["cam-b", day1]]
    assert read_labelling_order(lake, "9").empty  # a champion that mined nothing yet has no queue
    assert read_labelling_order(Lake(str(tmp_path / "bare")), CHAMPION).empty
