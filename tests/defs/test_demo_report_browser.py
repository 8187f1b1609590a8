"""The demo's own evaluation report, compare page and scene x day grid in headless Chromium.

The session's trained world (a whole demo pass on the tiny demo footage) grows the way the demo does: two new
scene-days land (one with labels all off the image), one more pass ingests, QCs, monitors and retrains, so the
registry holds v1 and v2 and the lake their evaluations on the same test split. Everything is served by the links
server on loopback the way `vision-assets ui` serves it. VISION_SCREENSHOT_DIR=<folder> also saves 1600x1000
screenshots of each page there."""

from __future__ import annotations

import contextlib
import io
import json
import os
import urllib.parse
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from grown_world import BAD_NEW, GOOD_NEW, grow_world
from helpers import data_folder_instance

from vision_assets.defs.partitions import scene_day_key

pytestmark = pytest.mark.slow  # a demo pass with a retrain on top of the trained world, and a browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
DAGSTER_UI = "http://127.0.0.1:3999"  # where the grid's cells point (not opened here)
OLD_DAY = "2026-11-18"


@pytest.fixture(scope="module")
def grown(trained_world, tmp_path_factory):
    if not CHROMIUM.exists():  # before paying for a retrain
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)")
    settings, runs = grow_world(trained_world.data_dir, tmp_path_factory.mktemp("grown") / "data")
    failed = [r for r in runs if not r.success]
    # Only the scene-day whose labels are off the image fails (its blocking qc_pass_rate check).
    assert [r.partition for r in failed] == [scene_day_key(*BAD_NEW)], runs
    return settings


@pytest.fixture(scope="module")
def served(grown):
    """The links server on the grown world, the latest evaluation (v2's) and `vision-assets compare v1 v2`."""
    from vision_assets import cli
    from vision_assets.core.lake import Lake
    from vision_assets.links_server import LinksServer

    lake = Lake(grown.lake_root)
    latest = lake.read_json("assets/eval_report.json")  # what the last eval_report materialization evaluated
    env = {"VISION_DATA_DIR": str(grown.data_dir), "DAGSTER_HOME": str(grown.dagster_home)}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            assert cli.main(["compare", "v1", "v2", "--json"]) == 0
    finally:
        for name, value in saved.items():
            os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)
    compared = json.loads(out.getvalue())
    with LinksServer(Path(grown.lake_root), "http://127.0.0.1:5999", grown.mlflow_tracking_uri,
                     dagster_home=grown.dagster_home, dagster_url=DAGSTER_UI) as server:
        yield {"server": server.url, "lake": lake, "latest": latest, "compared": compared,
               "report": f"{server.url}/lake/{latest['report_page']}", "compare": f"{server.url}/lake/{compared['page']}",
               "grid": f"{server.url}/grid"}


@pytest.fixture
def page(tmp_path, request):
    from playwright.sync_api import sync_playwright

    failed_before = request.session.testsfailed
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        seen = {"errors": [], "outside": []}

        def only_loopback(route):  # every request the page makes: loopback or file only, the rest refused
            url = urllib.parse.urlsplit(route.request.url)
            if url.scheme in ("file", "data", "blob") or url.hostname in ("127.0.0.1", "localhost"):
                return route.continue_()
            seen["outside"].append(route.request.url)
            return route.abort()

        context.route("**/*", only_loopback)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: seen["errors"].append(str(e)))
        page.seen = seen
        try:
            yield page
        finally:
            if request.session.testsfailed > failed_before:
                page.screenshot(path=str(tmp_path / f"{request.node.name}.png"), full_page=True)
            browser.close()


def screenshot(page, name: str, at: str = "") -> None:
    """With VISION_SCREENSHOT_DIR set, the viewport as it is (scrolled to put `at` on top) as <name>.png there."""
    folder = os.environ.get("VISION_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        if at:
            page.evaluate("selector => document.querySelector(selector).scrollIntoView()", at)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def gallery_count(page) -> int:
    return page.locator("#gallery figure.error").count()


def test_the_demo_evaluation_report_charts_filters_confusion_cell_replays_offline(served, page):
    import av

    from vision_assets.core.evaluation.report_data import gather

    report = served["latest"]
    page.goto(served["report"])
    charts = page.locator(".js-plotly-plot")
    assert charts.count() == 5  # per class, per slice, PR, F1-confidence, confusion matrix
    for index in range(charts.count()):  # each drawn by the inlined plotly.js
        charts.nth(index).locator("svg.main-svg, canvas").first.wait_for()
    facts = page.locator("#facts").inner_text()
    assert facts.count(report["evaluation_key"]) == 1
    assert "vision_assets_detector v2" in facts  # registered_model names the version on the page eval_report wrote
    screenshot(page, "report_top")

    # The gallery shows what the page's data says, and each filter keeps exactly the matching errors.
    errors = gather(served["lake"], report, embed_frames=False).errors
    assert gallery_count(page) == len(errors) == sum(report["errors"]["counts"].values()) > 0
    classes = sorted(set(errors["class_name"]) | set(errors["gt_class_name"].dropna()) - {""})
    assert len(classes) >= 2
    for name in classes:  # an error belongs to its predicted and its true class
        expected = int(((errors["class_name"] == name) | (errors["gt_class_name"] == name)).sum())
        page.select_option("#filter-class", name)
        assert gallery_count(page) == expected, name
        assert page.locator("#gallery-count").inner_text().startswith(f"{expected} of {len(errors)} errors")
    page.click("#filter-reset")
    kind, expected_kind = errors["kind"].value_counts().index[0], int(errors["kind"].value_counts().iloc[0])
    page.select_option("#filter-kind", kind)
    assert gallery_count(page) == expected_kind
    page.click("#filter-reset")
    scene = f"scene={sorted(report['by_scene'])[0]}"
    page.select_option("#filter-slice", scene)
    images = gather(served["lake"], report, embed_frames=False).images
    in_scene = set(images.loc[images["scene"] == scene.split("=")[1], "image_id"])
    assert gallery_count(page) == int(errors["image_id"].isin(in_scene).sum()) > 0
    screenshot(page, "report_gallery_filtered", at=".filters")
    page.click("#filter-reset")

    # A confusion-matrix cell opens its errors: the biggest off-diagonal cell (predicted background, true <class>
    # when the model misses, as a one-epoch model does) filters the gallery to that class pair.
    matrix = report["confusion_matrix"]
    labels, values = matrix["labels"], matrix["rows_predicted_columns_true"]
    predicted, truth = max(((p, t) for p in labels for t in labels if p != t),
                           key=lambda pt: values[labels.index(pt[0])][labels.index(pt[1])])
    page.locator("#confusion-chart").scroll_into_view_if_needed()
    position = page.evaluate("""([pred, truth]) => {
        const gd = document.getElementById('confusion-chart'), layout = gd._fullLayout;
        const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
        const x = layout.xaxis, y = layout.yaxis;
        return {x: box.left + x.l2p(x.d2l(truth)), y: box.top + y.l2p(y.d2l(pred))};
    }""", [predicted, truth])
    page.mouse.click(position["x"], position["y"])
    page.get_by_text(f"confusion cell: predicted {predicted}, true {truth}").wait_for()
    if predicted == "background":
        expected = errors[(errors["kind"] == "fn") & (errors["class_name"] == truth)]
    else:
        expected = errors[errors["kind"].isin(["fp", "dup"] if truth == "background" else ["cls"])
                          & (errors["class_name"] == predicted)]
    assert gallery_count(page) == len(expected) == values[labels.index(predicted)][labels.index(truth)] > 0
    screenshot(page, "report_confusion_cell", at=".filters")

    # Each test video's replay plays in the page, and it is H.264 (what a browser decodes).
    videos = page.locator("video")
    assert videos.count() == len(report["replays"]) >= 2
    for handle in videos.element_handles():
        handle.scroll_into_view_if_needed()
        page.wait_for_function("v => v.readyState >= 2", arg=handle)
    for key in report["replays"].values():
        with av.open(str(served["lake"].local_path(key))) as replay:
            assert replay.streams.video[0].codec_context.name == "h264", key
    assert page.locator(".replay-unplayable").count() == 0

    assert page.seen["errors"] == [] and page.seen["outside"] == []


def test_compare_v1_v2_of_the_demo_renders_deltas_with_intervals(served, page):
    compared = served["compared"]
    assert compared["a"] != compared["b"]  # two versions' evaluations on one test split
    page.goto(served["compare"])
    page.locator("#compare-slices-chart .main-svg").first.wait_for()
    assert "v1" in page.locator("h1").inner_text() and "v2" in page.locator("h1").inner_text()
    headline = page.locator("table.headline tbody tr")
    assert headline.count() == 5
    for index in range(headline.count()):
        delta = headline.nth(index).locator("td").nth(5).inner_text()
        assert "[" in delta and "]" in delta, delta  # each delta with its 95 % interval over the test videos
    metric = headline.first.locator("td").first.inner_text()
    assert metric == "mAP50-95"
    shown = float(headline.first.locator("td").nth(5).inner_text().split()[0])
    assert shown == pytest.approx(compared["headline"]["map50_95"]["delta"], abs=5e-5)
    assert page.locator("table.deltas tbody tr").count() > 0
    screenshot(page, "compare")
    assert page.seen["errors"] == [] and page.seen["outside"] == []


def test_the_scene_day_grid_shows_each_scene_day_with_footage_and_marks_the_failing_one(grown, served, page):
    from vision_assets.core.lake import keys

    lake = served["lake"]
    with_footage = {(v.parent.parent.name, v.parent.name) for v in grown.landing_dir.glob("*/*/*.mp4")}
    assert with_footage == {("cam-a", OLD_DAY), ("cam-b", OLD_DAY), GOOD_NEW, BAD_NEW}
    page.goto(served["grid"])
    cells = page.locator("table.grid td[data-partition]")
    assert cells.count() == len(with_footage)  # 2 scenes x 3 days would be 6: the two without footage are empty
    assert page.locator("table.grid td.empty").count() == 2
    assert page.locator("table.grid thead th").all_inner_texts()[1:] == [OLD_DAY, GOOD_NEW[1], BAD_NEW[1]]

    with data_folder_instance(grown.data_dir) as instance:
        for scene, day in sorted(with_footage):
            key = scene_day_key(scene, day)
            cell = page.locator(f"table.grid td[data-partition='{key}']")
            text = cell.inner_text()
            frames = lake.read_table(keys.SAMPLED_FRAMES, {"scene": scene, "day": day})
            qc = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey("qc_annotations"),
                                                                        asset_partitions=[key]), limit=1).records[0]
            kept = qc.asset_materialization.metadata["kept"].value
            assert f"2 videos, {len(frames)} frames" in text, text
            assert f"labels kept {kept}, QC pass" in text, text
            if (scene, day) == BAD_NEW:
                assert kept == 0 and "QC pass 0.0 %" in text and "FAILED qc_annotations.qc_pass_rate" in text
                assert cell.get_attribute("class") == "failing"
                colour = cell.evaluate("td => getComputedStyle(td).backgroundColor")
                assert colour == "rgb(251, 213, 213)"  # red
                link = cell.locator("a").get_attribute("href")
                assert link == f"{DAGSTER_UI}/assets/qc_annotations?view=partitions&partition=2026-11-20%7Ccam-b"
            else:
                assert kept > 0 and "FAILED" not in text and cell.get_attribute("class") in ("ok", "warning")
            monitoring = lake.read_table(keys.FOOTAGE_MONITORING, {"scene": scene, "day": day})
            p_value = float(monitoring["drift_p_value"].iloc[0])
            assert f"(p {p_value:.3g} vs v1)" in text, text
    screenshot(page, "grid")
    assert page.seen["errors"] == [] and page.seen["outside"] == []


def test_the_grid_is_markdown_metadata_on_qc_annotations(grown):
    with data_folder_instance(grown.data_dir) as instance:
        latest = instance.get_latest_materialization_event(dg.AssetKey("qc_annotations"))
        text = latest.asset_materialization.metadata["scene_day_grid"].value
    rows = [line for line in text.splitlines() if line.startswith("| **")]
    assert [row.split("|")[1].strip() for row in rows] == ["**cam-a**", "**cam-b**"]
    header = next(line for line in text.splitlines() if line.startswith("| scene"))
    assert [c.strip() for c in header.split("|")[2:-1]] == [OLD_DAY, GOOD_NEW[1], BAD_NEW[1]]
    cam_b = pd.Series([c.strip() for c in rows[1].split(" | ")])
    assert cam_b.iloc[2] == "no footage" and "✗ FAILING" in cam_b.iloc[3]  # cam-b on 2026-11-20
    assert "(/assets/qc_annotations?view=partitions&partition=2026-11-20%7Ccam-b)" in cam_b.iloc[3]
    assert "FAILED qc_annotations.qc_pass_rate" in cam_b.iloc[3]
    assert "FAILING" not in rows[0] and text.startswith("4 scene-days with footage (2 scenes x 3 days = 6 combinations")
