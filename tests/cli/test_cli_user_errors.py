"""Errors a user can act on reach the terminal as one line, `vision-assets: error: <object>: <problem>`, exit 2:
a bad setting, a bad sweep file, an unknown model version, a bad demo spec. Real processes, empty data folders."""

from __future__ import annotations

from test_cli_errors import one_line_error
from test_cli_video import run_cli


def test_a_bad_environment_setting_names_the_variable_and_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_EPOCHS", "0")

    line = one_line_error(run_cli("config", data_dir=tmp_path / "data"))

    assert line == "vision-assets: error: environment VISION_EPOCHS: training.epochs: must be a positive integer, got 0"


def test_a_bad_sweep_file_names_the_file_and_the_key_before_anything_runs(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("method: bayes\nspace: {lr0: [0.01, 0.001]}\n")

    line = one_line_error(run_cli("sweep", "--space", str(space), data_dir=tmp_path / "data"))

    assert line == f"vision-assets: error: {space}: method: must be 'grid' or 'random', got 'bayes'"
    assert not (tmp_path / "data" / "lake").exists() or not any((tmp_path / "data" / "lake").iterdir())


def test_comparing_an_unknown_version_or_alias_names_it(tmp_path):
    from vision_assets.core.registry import DEFAULT_MODEL_NAME

    data = tmp_path / "data"
    one_line_error(run_cli("compare", "v98", "v99", data_dir=data), f"model {DEFAULT_MODEL_NAME} has no versions yet")
    line = one_line_error(run_cli("compare", "nightly", "v99", data_dir=data))

    assert line.startswith("vision-assets: error: nightly: neither a stored evaluation, a checkpoint sha256, a "
                           f"version nor an alias of {DEFAULT_MODEL_NAME}")


def test_a_demo_spec_with_a_bad_day_stops_before_any_footage_is_drawn(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_DEMO_SPEC", '{"days": ["18.11.2026"], "seconds": 1}')

    line = one_line_error(run_cli("demo", data_dir=tmp_path / "data"))

    assert line == "vision-assets: error: demo spec day '18.11.2026': not a YYYY-MM-DD date"
    assert not any((tmp_path / "data" / "landing").rglob("*.mp4"))
