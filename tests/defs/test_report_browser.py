"""The evaluation report page and the compare page in headless Chromium, served by the links server (loopback) the
way `vision-assets ui` serves them, built from two real evaluations of two test videos."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_helpers import two_evaluations

pytestmark = pytest.mark.slow  # two YOLO evaluations (detection, tracking, replays) and a browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
CHARTS = ["per-class-chart", "per-slice-chart", "pr-chart", "f1-chart", "confusion-chart"]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    from vision_assets.core.evaluation.compare import write_compare_page
    from vision_assets.core.evaluation.report_page import write_report_page
    from vision_assets.links_server import LinksServer

    root = tmp_path_factory.mktemp("report")
    lake, untrained, confident = two_evaluations(root)
    report = write_report_page(lake, confident, model={"name": "vision_assets_detector", "version": "2"})
    compare = write_compare_page(lake, untrained, confident, names=("v1", "v2"))
    with LinksServer(root / "lake", "http://127.0.0.1:5123", "sqlite://") as server:
        yield {"server": server.url, "report": f"{server.url}/lake/{report}", "compare": f"{server.url}/lake/{compare}",
               "report_file": lake.local_path(report).as_uri(), "confident": confident}


@pytest.fixture
def browser_page(tmp_path, request):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(30_000)
        seen = {"requests": [], "errors": []}
        page.on("request", lambda r: seen["requests"].append(r.url))
        page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: seen["errors"].append(str(e)))
        page.seen = seen
        try:
            yield page
        finally:
            if request.session.testsfailed:
                page.screenshot(path=str(tmp_path / f"{request.node.name}.png"), full_page=True)
            browser.close()


def _only_local(requests: list[str], server: str) -> list[str]:
    return [url for url in requests if not url.startswith((server, "data:", "blob:", "file:"))]


def test_report_page_charts_gallery_confusion_cell_and_replays_work_offline(pages, browser_page):
    page = browser_page
    page.goto(pages["report"])
    for chart in CHARTS:  # Plotly drew each chart (its SVG exists), from the inlined plotly.js
        page.locator(f"#{chart} .main-svg").first.wait_for()
    assert "[" in page.locator("table.headline").inner_text() or "no interval" in page.locator("table.headline").inner_text()

    # The gallery: every error card, then filtered by kind and by score.
    cards = page.locator("#gallery figure.error")
    total = cards.count()
    counts = pages["confident"]["errors"]["counts"]
    assert total == sum(counts.values()) and counts["fp"] and counts["fn"]
    page.select_option("#filter-kind", "fn")
    assert cards.count() == counts["fn"]
    assert set(cards.evaluate_all("cards => cards.map(c => c.dataset.kind)")) == {"fn"}
    page.click("#filter-reset")
    assert cards.count() == total
    page.locator("#filter-score").fill("0.5")
    high = cards.count()
    assert 0 < high < total  # misses have no score: a score filter keeps only scored errors
    page.click("#filter-reset")
    # Each error on its full frame with overlays: an image and drawn boxes.
    first = cards.first
    assert first.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    assert first.locator("svg rect").count() >= 1

    # A confusion-matrix cell opens its errors: predicted car, true background = the false alarms of car.
    page.locator("#confusion-chart").scroll_into_view_if_needed()
    position = page.evaluate("""() => {
        const gd = document.getElementById('confusion-chart'), layout = gd._fullLayout;
        const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
        const x = layout.xaxis, y = layout.yaxis;
        return {x: box.left + x.l2p(x.d2l('background')), y: box.top + y.l2p(y.d2l('car'))};
    }""")
    page.mouse.click(position["x"], position["y"])
    page.get_by_text("confusion cell: predicted car, true background").wait_for()
    kinds = set(cards.evaluate_all("cards => cards.map(c => c.dataset.kind)"))
    assert cards.count() == counts["fp"] + counts["dup"] and kinds <= {"fp", "dup"}

    # Each test video's replay plays in the page (H.264 from the lake, beside the page).
    videos = page.locator("video")
    assert videos.count() == len(pages["confident"]["replays"]) == 2
    for handle in videos.element_handles():
        handle.scroll_into_view_if_needed()
        page.wait_for_function("v => v.readyState >= 2", arg=handle)
    assert page.locator("table.tracking tbody tr").count() == 3  # two videos and all

    assert page.seen["errors"] == []
    assert _only_local(page.seen["requests"], pages["server"]) == []


def test_report_page_opens_from_the_lake_folder_too(pages, browser_page):
    page = browser_page
    page.goto(pages["report_file"])
    page.locator("#pr-chart .main-svg").first.wait_for()
    assert page.seen["errors"] == [] and _only_local(page.seen["requests"], "file:") == []


def test_compare_page_shows_deltas_with_intervals_regressions_first(pages, browser_page):
    page = browser_page
    page.goto(pages["compare"])
    page.locator("#compare-slices-chart .main-svg").first.wait_for()
    headline = page.locator("table.headline tbody tr")
    assert headline.count() == 5
    first_delta = headline.first.locator("td").nth(5).inner_text()
    assert "[" in first_delta and "]" in first_delta  # e.g. "0.0000 [+0.000, +0.000]": two videos give an interval
    rows = page.locator("table.deltas tbody tr")
    verdicts = [rows.nth(i).locator("td").nth(5).inner_text() for i in range(rows.count())]
    worse = [i for i, v in enumerate(verdicts) if v.startswith("worse")]
    assert worse and worse == list(range(len(worse)))  # regressions first
    assert page.seen["errors"] == [] and _only_local(page.seen["requests"], pages["server"]) == []
