"""The real Dagster UI, driven in headless Chromium after a small end-to-end run: what a new user opens first."""

from __future__ import annotations

import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from helpers import REPO_ROOT, dagster_webserver

pytestmark = pytest.mark.slow  # an end-to-end run, the webserver and a browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ASSETS = ["raw_videos", "sampled_frames", "annotations", "qc_annotations", "dataset_split", "trained_checkpoint",
          "eval_report", "registered_model", "hard_examples"]
DAY = "2026-11-18"


@pytest.fixture(scope="module")
def ui(tmp_path_factory, trained_world):
    """The session's trained world (one end-to-end run) copied, and the real webserver on it (loopback, a free
    port), its instance read through the repository's dagster.yaml as `make ui` reads it."""
    if not CHROMIUM.exists():  # before paying for the world and the webserver
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)")
    root = tmp_path_factory.mktemp("ui")
    data = root / "data"
    shutil.copytree(trained_world.data_dir, data, symlinks=True)
    home = data / "dagster_home"
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    with dagster_webserver(home, data, root / "webserver.log") as url:
        yield url


@pytest.fixture
def page(ui, tmp_path, request):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    failed_before = request.session.testsfailed
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        # A fresh instance greets a new user with a newsletter dialog over the page: skip it whenever it shows.
        page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda button: button.click())
        try:
            yield page
        finally:
            if request.session.testsfailed > failed_before:
                shot = tmp_path / f"{request.node.name}.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot: {shot}")
            browser.close()


def visible(page, text: str):
    # The UI keeps hidden copies of names to measure them: only the visible one counts.
    return page.get_by_text(text, exact=True).filter(visible=True).first


def test_asset_graph_shows_the_nine_assets(ui, page):
    groups = ",".join(f"global@global:{group}" for group in ("data", "model", "feedback"))
    page.goto(f"{ui}/asset-groups?expanded={urllib.parse.quote(groups)}")
    for name in ASSETS:
        visible(page, name).wait_for()


def test_partitioned_check_shows_results_per_partition(ui, page):
    page.goto(f"{ui}/assets/qc_annotations?view=checks&checkDetail=qc_pass_rate")
    visible(page, "Partition").wait_for()  # the latest execution names its partition
    # The check's own Partitions tab (the asset's tab of that name comes first on the page).
    page.get_by_text("Partitions", exact=True).filter(visible=True).last.click()
    visible(page, "Passed (2)").wait_for()
    for scene in ("cam-a", "cam-b"):  # one row per scene-day partition, named <day>|<scene>
        visible(page, f"{DAY}|{scene}").wait_for()


def test_eval_report_renders_its_table_and_image(ui, page):
    page.goto(f"{ui}/assets/eval_report")
    page.get_by_text("[Show Markdown]").filter(visible=True).first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("table").first.wait_for()
    assert dialog.locator("table").count() >= 2
    image = dialog.locator("img").first
    image.wait_for()
    image.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())


def test_sensor_page_lists_its_runs(ui, page):
    page.goto(f"{ui}/locations/vision_assets/sensors/landing_sensor?view=runs")
    visible(page, "Launched by").wait_for()
    runs = page.locator("a[href*='/runs/']")
    runs.first.wait_for()
    assert page.get_by_text("No runs found").count() == 0
    assert page.get_by_text("ingest_videos", exact=True).filter(visible=True).count() >= 2  # a run per partition
