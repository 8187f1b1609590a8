"""hard_examples' labelling_order metadata: where a freshly mined queue stands among every queue of the champion,
read from the lake's real tables."""

from __future__ import annotations

import pandas as pd

from vision_assets.core.lake import Lake, keys
from vision_assets.defs.hard_examples import labelling_order_metadata

DAY = "2026-03-02"


def partition(lake: Lake, scene: str, p_value: float, uncertainties: list[float]) -> None:
    where = {"scene": scene, "day": DAY}
    lake.write_table(keys.FOOTAGE_MONITORING, pd.DataFrame([{"scene": scene, "day": DAY, "champion_version": "4",
                                                             "drift_p_value": p_value, "drift_score": 0.5}]), where)
    lake.write_table(keys.HARD_EXAMPLES, pd.DataFrame({"frame_sha256": [f"{scene}{i}" for i in range(len(uncertainties))],
                                                       "uncertainty": uncertainties, "champion_version": "4"}), where)


def test_the_metadata_ranks_the_queue_and_tables_the_order(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    partition(lake, "cam-a", 0.5, [0.9])
    partition(lake, "campus", 0.002, [0.3, 0.2])
    partition(lake, "dark", 0.3, [])  # mined, nothing uncertain enough to queue

    mined = labelling_order_metadata(lake, "4", "cam-a", DAY)
    empty = labelling_order_metadata(lake, "4", "dark", DAY)

    assert mined["labelling_rank"] == 2 and empty["labelling_rank"] == 0
    text = mined["labelling_order"].value
    assert text.startswith("This queue is #2 of 2.")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows == [
        "| rank | scene | day | drift_verdict | drift_p_value | frames_queued | max_uncertainty | queue_folder |",
        f"| 1 | campus | {DAY} | drift | 0.002 | 2 | 0.3 | labeling_queue/scene=campus/day={DAY}/champion=v4 |",
        f"| 2 | cam-a | {DAY} | in distribution | 0.5 | 1 | 0.9 | labeling_queue/scene=cam-a/day={DAY}/champion=v4 |"]
    assert empty["labelling_order"].value.startswith("This queue is empty: not among the 2 queues to label.")
