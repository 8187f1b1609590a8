"""`vision-assets queue`: the current champion's labelling queues in the order to label them, from the lake's real
footage_monitoring and hard_examples tables and a real MLflow registry (SQLite)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from registry_helpers import prepared_data_folder, register, registry_of

from vision_assets import cli
from vision_assets.core.lake import Lake, keys
from vision_assets.core.registry import DEFAULT_MODEL_NAME

DAY = "2026-03-02"


@pytest.fixture
def settings(tmp_path, monkeypatch):
    return prepared_data_folder(tmp_path, monkeypatch)


def champion_v2(settings, tmp_path) -> None:
    registry = registry_of(settings)
    for n in (1, 2):
        register(registry, tmp_path, n, gate="pass")
    registry.promote(DEFAULT_MODEL_NAME, "2")


def partition(lake: Lake, scene: str, p_value: float, uncertainties: list[float]) -> None:
    where = {"scene": scene, "day": DAY}
    lake.write_table(keys.FOOTAGE_MONITORING, pd.DataFrame([{"scene": scene, "day": DAY, "champion_version": "2",
                                                             "drift_p_value": p_value, "drift_score": 0.5}]), where)
    lake.write_table(keys.HARD_EXAMPLES, pd.DataFrame({
        "frame_sha256": [f"{scene}{i}" for i in range(len(uncertainties))], "uncertainty": uncertainties,
        "champion_version": "2"}), where)


def test_queue_lists_drifting_footage_first_and_push_without_a_partition_takes_the_first(settings, tmp_path, capsys):
    assert cli.main(["queue"]) == 2
    assert capsys.readouterr().err.strip() == (f"vision-assets: error: {DEFAULT_MODEL_NAME}: no champion yet, so no "
                                               "labelling queue (train and register a model)")
    champion_v2(settings, tmp_path)
    assert cli.main(["labelstudio", "push"]) == 2
    assert capsys.readouterr().err.strip() == ("vision-assets: error: champion v2: no labelling queue to push yet "
                                               "(mine the partitions first)")
    lake = Lake(settings.lake_root)
    partition(lake, "cam-a", 0.4, [0.9, 0.8])
    partition(lake, "campus", 1 / 301, [0.25, 0.5])

    assert cli.main(["queue", "--json"]) == 0

    listed = json.loads(capsys.readouterr().out)
    assert (listed["champion_version"], listed["drift_p_value_threshold"]) == ("2", 0.01)
    assert listed["queues"] == [
        {"rank": 1, "scene": "campus", "day": DAY, "drift_verdict": "drift", "drift_p_value": 1 / 301,
         "drift_score": 0.5, "frames_queued": 2, "max_uncertainty": 0.5, "mean_uncertainty": 0.375,
         "champion_version": "2", "queue_folder": f"labeling_queue/scene=campus/day={DAY}/champion=v2"},
        {"rank": 2, "scene": "cam-a", "day": DAY, "drift_verdict": "in distribution", "drift_p_value": 0.4,
         "drift_score": 0.5, "frames_queued": 2, "max_uncertainty": 0.9, "mean_uncertainty": pytest.approx(0.85),
         "champion_version": "2", "queue_folder": f"labeling_queue/scene=cam-a/day={DAY}/champion=v2"}]
    assert cli.main(["queue"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["1", "campus", DAY, "drift", "(p", "0.00332)", "2", "0.500",
                                f"labeling_queue/scene=campus/day={DAY}/champion=v2"]
    assert lines[-1] == f"next: vision-assets labelstudio push campus {DAY}"
    # push with no partition takes the first queue: here its tables exist but not its import files.
    assert cli.main(["labelstudio", "push"]) == 2
    assert capsys.readouterr().err.strip() == (f"vision-assets: error: labeling_queue/scene=campus/day={DAY}/"
                                               "champion=v2: no labelling queue there (mine the partition first)")
