"""Shared fixtures: the real material, an isolated data folder, a real Dagster instance and tiny demo data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MATERIAL = Path(os.environ.get("VISION_TEST_MATERIAL") or REPO_ROOT.parent / "shared" / "material")

# Before anything imports Ultralytics or MLflow: nothing may download or write outside temp folders.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="vision_assets_tests_"))
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_CONFIG_DIR"] = str(_SESSION_TMP / "ultralytics")
os.environ["VISION_DATA_DIR"] = str(_SESSION_TMP / "default_data")
os.environ.pop("DAGSTER_HOME", None)
os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(scope="session")
def material() -> Path:
    if not MATERIAL.exists():
        pytest.fail(f"test material missing: {MATERIAL} (expected ../shared/material beside the repo)")
    return MATERIAL


def settings_for(data_dir: Path, **extra: str):
    from vision_assets.settings import Settings

    env = {"VISION_DATA_DIR": str(data_dir), "VISION_EPOCHS": "1", "VISION_IMGSZ": "96", **extra}
    settings = Settings.from_env(env)
    settings.prepare()
    return settings


def tiny_definitions(settings, **resource_overrides):
    """The real definitions with resources pointed at a temp data folder and a training run that takes seconds."""
    from vision_assets.definitions import build_definitions
    from vision_assets.defs.resources import RetrainPolicyResource, TrainerResource
    from vision_assets.defs.wiring import build_resources

    resources = build_resources(settings)
    resources["trainer"] = TrainerResource(epochs=1, imgsz=96, batch=8, workers=0)
    resources["retrain_policy"] = RetrainPolicyResource(min_new_labels=1)
    resources.update(resource_overrides)
    return build_definitions(resources)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def instance(tmp_path: Path):
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        yield inst


TINY_SPEC = dict(scenes=("cam-a", "cam-b"), days=("2026-11-18",), videos_per_day=2, seconds=3.0, fps=10,
                 width=160, height=96, seed=3)


@pytest.fixture(scope="session")
def tiny_landing() -> Path:
    """2 scenes x 1 day x 2 videos of 3 s, generated once per session (copy it before changing it)."""
    from vision_assets.demo import DemoSpec, generate_demo_data

    landing = _SESSION_TMP / "tiny_landing"
    generate_demo_data(landing, DemoSpec(**TINY_SPEC))
    return landing
