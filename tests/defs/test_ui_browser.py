"""The real Dagster UI, driven in headless Chromium after a small end-to-end run: what a new user opens first."""

from __future__ import annotations

import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
from helpers import REPO_ROOT, dagster_webserver

pytestmark = pytest.mark.slow  # an end-to-end run, the webserver and a browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ASSETS = ["raw_videos", "sampled_frames", "annotations", "qc_annotations", "dataset_split", "trained_checkpoint",
          "eval_report", "registered_model", "hard_examples"]
DAY = "2026-11-18"
UNLABELLED = "cam-u"  # a camera-day added with footage and no labels


@pytest.fixture(scope="module")
def ui(tmp_path_factory, trained_world):
    """The session's trained world (one end-to-end run) copied, and the real webserver on it (loopback, a free
    port), its instance read through the repository's dagster.yaml as `make ui` reads it."""
    if not CHROMIUM.exists():  # before paying for the world and the webserver
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)")
    root = tmp_path_factory.mktemp("ui")
    data = root / "data"
    shutil.copytree(trained_world.data_dir, data, symlinks=True)
    _add_a_scene_day_without_labels(data, root / "unlabelled")
    home = data / "dagster_home"
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    with dagster_webserver(home, data, root / "webserver.log") as url:
        yield url


def _add_a_scene_day_without_labels(data: Path, scratch: Path) -> None:
    """A new camera-day whose video has no label file (qc_pass_rate fails there as a warning: nothing to judge),
    then cam-a's QC again, which passes and so is the check's latest execution: where Dagster, colouring a
    partitioned check by its latest execution's severity, once painted that warning red."""
    from helpers import TINY_SPEC, data_folder_instance, settings_for, tiny_definitions

    from vision_assets.demo import DemoSpec, generate_demo_data
    from vision_assets.local.daemon import LocalDaemon
    from vision_assets.local.launch import ASSET_JOB

    settings = settings_for(data)
    generate_demo_data(scratch, DemoSpec(**{**TINY_SPEC, "scenes": (UNLABELLED,), "videos_per_day": 1, "seed": 11}))
    for video in scratch.rglob("*.mp4"):
        target = settings.landing_dir / video.relative_to(scratch)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(video, target)
    with data_folder_instance(data) as instance:
        daemon = LocalDaemon(tiny_definitions(settings), instance, log=lambda _: None)
        cursor = daemon.automation_cursor()
        daemon.sensor_tick("landing_sensor")
        daemon.automation_until_quiet(cursor)
        daemon.execute(ASSET_JOB, f"{DAY}|cam-a", [dg.AssetKey("qc_annotations")])
    assert daemon.runs and all(r.success for r in daemon.runs), daemon.runs


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


def _check_entry(page, name: str):
    """The check's entry in the asset's Checks tab list (before the detail pane): status icon, name, status text."""
    return visible(page, name).locator("xpath=ancestor::div[.//*[@role='img']][1]")


def test_warn_checks_show_as_warnings_not_errors(ui, page):
    """Dagster 1.13 labels every failed check "Failed"; the severity is its icon and colour: a yellow warning_outline
    for WARN, a red cancel for ERROR. qc_pass_rate failed only as a warning (the camera-day without labels) and its
    latest execution is cam-a's pass: still a warning."""
    page.goto(f"{ui}/assets/qc_annotations?view=checks&checkDetail=qc_pass_rate")
    visible(page, "Latest execution").wait_for()
    visible(page, f"{DAY}|cam-a").wait_for()  # the latest execution is the pass on cam-a ...
    visible(page, "Passed").wait_for()
    expected = {"qc_pass_rate": ("Failed", "warning_outline"), "qc_warnings": ("Failed", "warning_outline"),
                "kept_rows_meet_expectations": ("Succeeded", "check_circle")}
    for name, (status, icon) in expected.items():  # ... and the check still shows its failure as a warning
        entry = _check_entry(page, name)
        entry.get_by_text(status, exact=True).wait_for()
        icons = entry.get_by_role("img").evaluate_all("icons => icons.map(icon => icon.getAttribute('aria-label'))")
        assert icons == [icon], (name, icons)
    page.get_by_text("Partitions", exact=True).filter(visible=True).last.click()  # the check's own Partitions tab
    visible(page, "Failed (1)").wait_for()
    visible(page, f"{DAY}|{UNLABELLED}").wait_for()
