"""The monitoring page of a version: per scene over days from the lake's footage_monitoring table, self-contained
(no address outside the page), served by the links server (pages only, never the baselines)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from html.parser import HTMLParser

import pandas as pd
import pytest

from vision_assets.core.lake import Lake, keys
from vision_assets.core.monitoring.drift_page import monitoring_rows, shadow_summary, write_drift_page

NAME = "vision_assets_detector"


class Addresses(HTMLParser):
    """Every src/href of the page's elements (inline script text is not markup, so plotly.js's strings are not)."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.found.append(value)
            if name == "id":
                self.ids.add(value)


def outside(addresses: list[str]) -> list[str]:
    return [a for a in addresses if re.match(r"(?i)^(https?:)?//", a)
            and not re.match(r"(?i)^https?://(localhost|127\.0\.0\.1)([:/]|$)", a)]


def summary_row(scene, day, champion, p_value, challenger="", disagreement=0.0):
    return {"scene": scene, "day": day, "champion_version": champion, "challenger_version": challenger,
            "frames": 40, "drift_p_value": p_value, "drift_score": 0.5 - p_value, "detections_per_frame": 1.5,
            "predictions_stable": True, "shadow_disagreement_rate": disagreement, "baseline_reference": scene,
            "challenger_detections_per_frame": 1.2 if challenger else float("nan")}


@pytest.fixture
def lake(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    rows = [summary_row("cam-a", "2026-11-18", "1", 0.40), summary_row("cam-a", "2026-11-19", "1", 0.31, "2", 0.25),
            summary_row("campus", "2026-11-19", "1", 0.0033, "2", 0.75), summary_row("cam-a", "2026-11-20", "2", 0.2)]
    for row in rows:
        lake.write_table(keys.FOOTAGE_MONITORING, pd.DataFrame([row]), {"scene": row["scene"], "day": row["day"]})
    return lake


def test_the_page_shows_the_scenes_and_days_the_version_watched(lake):
    key = write_drift_page(lake, NAME, "1", [("canary", "no canary running")])
    assert key == f"monitoring/{NAME}/v1/drift.html" and lake.exists(key)
    page = lake.local_path(key).read_text()
    parser = Addresses()
    parser.feed(page)
    assert outside(parser.found) == [], outside(parser.found)
    assert "drift-over-days" in parser.ids and "no-footage" not in parser.ids
    chart = re.search(r'Plotly\.newPlot\(\s*"drift-over-days",\s*(\[.*?\]),\s*\{', page, re.S).group(1)
    for value in ('"name":"cam-a"', '"name":"campus"', "2026-11-18", "2026-11-19"):
        assert value in chart
    assert "2026-11-20" not in chart  # v2's day as champion is on v2's page
    assert "no canary running" in page and "Monitoring of this model" in page

    v2 = lake.local_path(write_drift_page(lake, NAME, "2")).read_text()
    assert "2026-11-20" in v2 and "In shadow" in v2 and "0.7500" in v2  # its days as challenger too


def test_a_version_that_watched_nothing_yet_gets_a_page_that_says_so(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    page = lake.local_path(write_drift_page(lake, NAME, "7")).read_text()
    parser = Addresses()
    parser.feed(page)
    assert "no-footage" in parser.ids and "drift-over-days" not in parser.ids and outside(parser.found) == []


def test_shadow_summary_per_pair_and_scene(lake):
    summary = shadow_summary(monitoring_rows(lake), "2")
    assert summary.to_dict("records") == [
        {"champion_version": "1", "challenger_version": "2", "scene": "cam-a", "days": 1, "mean_disagreement": 0.25,
         "max_disagreement": 0.25},
        {"champion_version": "1", "challenger_version": "2", "scene": "campus", "days": 1, "mean_disagreement": 0.75,
         "max_disagreement": 0.75}]
    assert shadow_summary(monitoring_rows(lake), "9").empty


def test_the_links_server_serves_monitoring_pages_not_baselines(lake):
    from vision_assets.links_server import LinksServer

    key = write_drift_page(lake, NAME, "1")
    lake.write_bytes(keys.monitoring_baseline_key("ab" * 32), b"features")
    with LinksServer(lake.local_path(""), "http://127.0.0.1:5123", "sqlite://") as server:
        with urllib.request.urlopen(f"{server.url}/lake/{key}") as response:
            assert response.status == 200 and b"Monitoring of this model" in response.read()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server.url}/lake/{keys.monitoring_baseline_key('ab' * 32)}")
        assert refused.value.code == 404
