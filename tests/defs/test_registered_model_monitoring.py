"""After delivery, on the trained world: the registered version carries its package latency (pyfunc and ONNX, batch 1
and the configured batch) as tags, in its Registration record and its metadata; its monitoring page exists from
registration on, fills with the scene-days footage_monitoring watches, names nothing outside itself, and the
evaluation report page of the same model links to it."""

from __future__ import annotations

import math
import posixpath
import re

import dagster as dg
import pytest

pytestmark = pytest.mark.slow  # the session's trained world (training, evaluation, registration)

MODEL = "vision_assets_detector"


def addresses(page: str) -> list[str]:
    from html.parser import HTMLParser

    found: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend(value for name, value in attrs if name in ("src", "href") and value)

    Parser().feed(page)
    return found


def outside(found: list[str]) -> list[str]:
    return [a for a in found if re.match(r"(?i)^(https?:)?//", a)
            and not re.match(r"(?i)^https?://(localhost|127\.0\.0\.1)([:/]|$)", a)]


def test_latency_monitoring_page_and_report_link(world_copy, monkeypatch, capsys):
    from helpers import tiny_definitions

    from vision_assets.core.lake import Lake, keys
    from vision_assets.core.records import Registration
    from vision_assets.core.registry import ModelRegistry
    from vision_assets.core.registry.latency import FLAVOURS, MODES, tag_name
    from vision_assets.local.daemon import LocalDaemon
    from vision_assets.local.launch import ASSET_JOB

    settings, instance = world_copy
    registry, lake = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root), Lake(settings.lake_root)
    champion = registry.champion(MODEL)
    tags = champion.tags
    for flavour in FLAVOURS:
        for mode in MODES:
            p50, p95 = (float(tags[tag_name(flavour, mode, stat)]) for stat in ("p50", "p95"))
            assert math.isfinite(p50) and math.isfinite(p95) and 0 < p50 <= p95, (flavour, mode, p50, p95)
    from vision_assets.core.training.environment import resolve_device

    assert tags["latency_device"] == resolve_device("auto") and int(tags["latency_batch"]) >= 1  # where it evaluated

    event = instance.get_latest_materialization_event(dg.AssetKey("registered_model"))
    metadata = event.asset_materialization.metadata
    assert metadata["latency_onnx_batched_p95_ms"].value == pytest.approx(float(tags["latency_onnx_batched_p95_ms"]),
                                                                          rel=1e-3)
    assert "pyfunc batch 1: p50" in metadata["latency"].value and metadata["canary"].value == "no canary running"
    page = f"monitoring/{MODEL}/v{champion.version}/drift.html"
    assert metadata["monitoring_page"].url.endswith(f"/lake/{page}") and lake.exists(page)
    record = Registration.from_json(lake.read_json(keys.asset_record_key(["registered_model"])))
    assert record.monitoring_page == page
    assert record.latency["ms"]["pyfunc"]["batch1"]["p50"] == pytest.approx(float(tags["latency_pyfunc_batch1_p50_ms"]),
                                                                             rel=1e-3)

    # The report page of the same model now names the version and links its monitoring page, relative to itself.
    report_key = metadata["report_page"].url.split("/lake/", 1)[1]
    report = lake.local_path(report_key).read_text()
    link = posixpath.normpath(posixpath.join(posixpath.dirname(report_key),
                                             re.search(r"<a href='([^']+)'>Monitoring of this model</a>", report).group(1)))
    assert link == page and outside(addresses(report)) == []

    # The version's lineage says where it served since its registration made it champion.
    import json

    from vision_assets import cli
    from vision_assets.core.registry import read_audit

    monkeypatch.setenv("VISION_DATA_DIR", str(settings.data_dir))
    capsys.readouterr()
    assert cli.main(["lineage", "--json"]) == 0
    served = json.loads(capsys.readouterr().out)["served"]
    promoted = read_audit(lake).query("action == 'promote'")["time"].tolist()
    scenes = sorted({p["scene"] for p in lake.table_partitions(keys.RAW_VIDEOS)})
    assert served == [{"scene": scene, "version": str(champion.version), "role": "champion", "start": promoted[0],
                       "end": None} for scene in [*scenes, "*"]]

    # The champion watches one scene-day: the page fills with it.
    partition = next(p for p in lake.table_partitions(keys.SAMPLED_FRAMES))
    daemon = LocalDaemon(tiny_definitions(settings), instance, log=lambda _: None)
    outcome = daemon.execute(ASSET_JOB, f"{partition['day']}|{partition['scene']}", [dg.AssetKey("footage_monitoring")])
    assert outcome.success
    watched = instance.get_latest_materialization_event(dg.AssetKey("footage_monitoring")).asset_materialization
    assert watched.metadata["monitoring_page"].url.endswith(f"/lake/{page}")
    html = lake.local_path(page).read_text()
    assert outside(addresses(html)) == []
    chart = re.search(r'Plotly\.newPlot\(\s*"drift-over-days",\s*(\[.*?\]),\s*\{', html, re.S).group(1)
    assert f'"name":"{partition["scene"]}"' in chart and partition["day"] in chart

