"""The scene x day grid's cells from real lake tables, and how they are written (Markdown for the Dagster UI, HTML
for the links server): numbers, states, empty cells and links."""

from __future__ import annotations

import pandas as pd
import pytest

from vision_assets.core.lake import Lake, keys
from vision_assets.core.scene_day_grid import CheckState, grid_cells, grid_html, grid_markdown

DRIFT_CHECK = "footage_in_distribution"


@pytest.fixture
def lake(tmp_path) -> Lake:
    """cam-a on two days (the second with QC below its threshold and drifting footage), cam-b on the first only."""
    lake = Lake(str(tmp_path / "lake"))
    first, second, other = ({"scene": "cam-a", "day": "2026-11-18"}, {"scene": "cam-a", "day": "2026-11-19"},
                            {"scene": "cam-b", "day": "2026-11-18"})
    lake.write_table(keys.RAW_VIDEOS, pd.DataFrame({"video_sha256": ["a", "b", "c"],
                                                    "outcome": ["ok", "ok", "quarantined"]}), first)
    lake.write_table(keys.RAW_VIDEOS, pd.DataFrame({"video_sha256": ["d"], "outcome": ["ok"]}), second)
    lake.write_table(keys.RAW_VIDEOS, pd.DataFrame({"video_sha256": ["e"], "outcome": ["ok"]}), other)
    lake.write_table(keys.SAMPLED_FRAMES, pd.DataFrame({"frame_index": range(7)}), first)
    lake.write_table(keys.SAMPLED_FRAMES, pd.DataFrame({"frame_index": range(3)}), second)
    lake.write_table(keys.QC_SUMMARY, pd.DataFrame([{"kept": 40, "pass_rate": 40 / 42, "passed": True}]), first)
    lake.write_table(keys.QC_SUMMARY, pd.DataFrame([{"kept": 1, "pass_rate": 0.25, "passed": False}]), second)
    lake.write_table(keys.FOOTAGE_MONITORING, pd.DataFrame([{"drift_p_value": 0.42, "champion_version": "3"}]), first)
    lake.write_table(keys.FOOTAGE_MONITORING, pd.DataFrame([{"drift_p_value": 0.004, "champion_version": "3"}]), second)
    return lake


CHECKS = {
    ("cam-a", "2026-11-18"): [CheckState("qc_annotations", "qc_pass_rate", True),
                              CheckState("footage_monitoring", DRIFT_CHECK, True, "WARN")],
    ("cam-a", "2026-11-19"): [CheckState("qc_annotations", "qc_pass_rate", False, "ERROR", "25 % < 95 %"),
                              CheckState("footage_monitoring", DRIFT_CHECK, False, "WARN")],
    ("cam-b", "2026-11-18"): [CheckState("annotations", "videos_labelled", False, "WARN")],
}


def test_cells_read_each_partitions_numbers_and_state(lake):
    cells = {(c.scene, c.day): c for c in grid_cells(lake, CHECKS, CHECKS, drift_check=DRIFT_CHECK)}
    first, second, other = cells["cam-a", "2026-11-18"], cells["cam-a", "2026-11-19"], cells["cam-b", "2026-11-18"]
    assert (first.videos, first.frames, first.labels_kept) == (2, 7, 40)  # the quarantined video is not counted
    assert first.pass_rate == pytest.approx(40 / 42) and first.state == "ok"
    assert (first.drift, first.drift_p_value, first.drift_champion) == ("in distribution", 0.42, "3")
    assert (second.frames, second.labels_kept, second.state, second.drift) == (3, 1, "failing", "drift")
    assert [c.check for c in second.failing] == ["qc_pass_rate"] and second.worst_asset == "qc_annotations"
    # No frames or QC written yet: unknown, not zero; a failed WARN check is a warning, not a failure.
    assert (other.frames, other.labels_kept, other.pass_rate, other.drift) == (None, None, None, "not monitored")
    assert other.state == "warning" and other.worst_asset == "annotations"


def test_markdown_has_scene_rows_day_columns_an_empty_cell_per_scene_day_without_footage(lake):
    cells = grid_cells(lake, CHECKS, CHECKS, drift_check=DRIFT_CHECK)
    text = grid_markdown(cells, lambda c: f"/assets/x?partition={c.day}%7C{c.scene}")
    assert text.startswith("3 scene-days with footage (2 scenes x 2 days = 4 combinations; the others have no "
                           "footage and no partition): 1 failing, 1 warning, 1 ok")
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table[0] == "| scene \\ day | 2026-11-18 | 2026-11-19 |"
    cam_a, cam_b = table[2], table[3]
    assert "[**✗ FAILING**](/assets/x?partition=2026-11-19%7Ccam-a)" in cam_a
    assert "labels kept 1, QC pass 25.0 % · footage: drift (p 0.004 vs v3) · FAILED qc_annotations.qc_pass_rate" in cam_a
    assert cam_b.endswith("| no footage |") and "⚠ warning" in cam_b and "1 video, – frames" in cam_b
    assert "<" not in text  # Dagster's Markdown drops raw HTML


def test_html_colours_cells_by_state_and_links_each_partition(lake):
    cells = grid_cells(lake, CHECKS, CHECKS, drift_check=DRIFT_CHECK)
    page = grid_html(cells, lambda c: f"http://ui/assets/{c.worst_asset}?p={c.day}%7C{c.scene}")
    assert "<td class='failing' data-partition='2026-11-19|cam-a'><a href='http://ui/assets/qc_annotations?" \
           "p=2026-11-19%7Ccam-a'>" in page
    assert "<td class='ok' data-partition='2026-11-18|cam-a'>" in page
    assert "<td class='warning' data-partition='2026-11-18|cam-b'><a href='http://ui/assets/annotations?" in page
    assert page.count("<td class='empty'>no footage</td>") == 1
    assert "http" not in page.replace("http://ui/", "")  # nothing to fetch: the page stands alone
