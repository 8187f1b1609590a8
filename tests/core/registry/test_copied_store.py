"""A copied data folder writes only into itself and loads its models after the original is gone."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from helpers import settings_for

from vision_assets.core.registry import DEFAULT_MODEL_NAME, ModelRegistry


def _registry(settings) -> ModelRegistry:
    return ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)


def _register(registry: ModelRegistry, weights: Path) -> str:
    with registry.run("train", {}) as run_id:  # what training does: a run in the experiment, its files logged
        registry.log_artifact(run_id, weights, "weights")
    version = registry.register(DEFAULT_MODEL_NAME, run_id, "weights", {})
    registry.promote(DEFAULT_MODEL_NAME, str(version.version))
    return str(version.version)


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def _locations(settings) -> list[str]:
    database = settings.mlflow_tracking_uri.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        return [row[0] for query in ("SELECT artifact_location FROM experiments WHERE experiment_id > 0",
                                     "SELECT artifact_uri FROM runs", "SELECT storage_location FROM model_versions")
                for row in connection.execute(query)]


def test_a_copy_writes_only_into_itself_and_loads_its_champion_once_the_original_is_gone(tmp_path):
    first = settings_for(tmp_path / "A" / "data")
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"v1 weights")
    _register(_registry(first), weights)
    shutil.copytree(tmp_path / "A", tmp_path / "B")
    before = _files(tmp_path / "A")

    copy = settings_for(tmp_path / "B" / "data")
    weights.write_bytes(b"v2 weights")
    registry = _registry(copy)
    assert _register(registry, weights) == "2"
    champion = registry.download(DEFAULT_MODEL_NAME, "2", tmp_path / "B" / "data" / "work" / "v2")

    assert _files(tmp_path / "A") == before  # the original gained or changed nothing
    assert (champion / "best.pt").read_bytes() == b"v2 weights"
    assert all(str(tmp_path / "A") not in location for location in _locations(copy)), _locations(copy)
    assert all(str(tmp_path / "B") in location for location in _locations(copy) if not location.startswith("runs:/"))

    shutil.rmtree(tmp_path / "A")
    again = _registry(settings_for(tmp_path / "B" / "data"))
    assert again.champion(DEFAULT_MODEL_NAME).version == 2
    first_model = again.download(DEFAULT_MODEL_NAME, "1", tmp_path / "B" / "data" / "work" / "v1")
    assert (first_model / "best.pt").read_bytes() == b"v1 weights"
    assert _register(again, weights) == "3"
    assert not (tmp_path / "A").exists()


def test_a_configured_artifact_root_is_used_for_an_existing_experiment(tmp_path):
    settings = settings_for(tmp_path / "data")
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    _register(_registry(settings), weights)

    elsewhere = tmp_path / "bucket"
    moved = settings_for(tmp_path / "data", VISION_MLFLOW_ARTIFACTS=elsewhere.as_uri())
    registry = _registry(moved)
    _register(registry, weights)

    assert [p.name for p in elsewhere.rglob("best.pt")] == ["best.pt"]
    assert (registry.download(DEFAULT_MODEL_NAME, "1", tmp_path / "v1") / "best.pt").read_bytes() == b"weights"
