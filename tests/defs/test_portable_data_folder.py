"""A data folder moved elsewhere keeps working, and no record in it names the place it came from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from helpers import run_once, settings_for, tiny_definitions

pytestmark = pytest.mark.slow


def _instance(data_dir: Path):
    home = data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    return dg.instance_for_test(temp_dir=str(home))


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


def _records_naming(root: Path, original: str, instance, registry) -> list[str]:
    """Every Parquet cell, JSON record, MLflow tag and Dagster materialization metadata value that holds original."""
    found = []
    for parquet in (root / "lake").rglob("*.parquet"):
        table = pd.read_parquet(parquet)
        cells = [str(c) for c in table.to_numpy().ravel()] + [str(c) for c in table.columns]
        found += [f"{parquet}: {c}" for c in cells if original in c]
    for record in (root / "lake").rglob("*.json"):
        if original in record.read_text():
            found.append(str(record))
    for version in registry.client.search_model_versions("name='vision_assets_detector'"):
        found += [f"model v{version.version} tag {k}" for k, v in version.tags.items() if original in str(v)]
        run = registry.client.get_run(version.run_id)
        found += [f"run {run.info.run_id} tag {k}" for k, v in run.data.tags.items()
                  if original in str(v) and not k.startswith("mlflow.")]
        found += [f"run {run.info.run_id} param {k}" for k, v in run.data.params.items() if original in str(v)]
    for key in instance.get_asset_keys():
        for record in instance.fetch_materializations(key, limit=1000).records:
            metadata = record.asset_materialization.metadata
            found += [f"{key.to_user_string()} metadata {k}" for k, v in metadata.items()
                      if any(original in s for s in _strings(getattr(v, "value", v)))]
    return found


def test_a_moved_data_folder_ingests_retrains_audits_and_pulls_the_champion(tmp_path, trained_world, capsys,
                                                                             monkeypatch):
    from helpers import TINY_SPEC

    from vision_assets.core.lake import Lake, sha256_file
    from vision_assets.core.registry import ModelRegistry
    from vision_assets.demo import DemoSpec, generate_demo_data

    # The original is a copy of the session's trained world (a folder that has been copied once already); it is
    # moved, so the moved folder must name neither the original nor the world it came from.
    original = settings_for(tmp_path / "first" / "data")
    shutil.copytree(trained_world.data_dir, original.data_dir, symlinks=True, dirs_exist_ok=True)

    moved_root = tmp_path / "second" / "data"
    shutil.copytree(original.data_dir, moved_root, symlinks=True)
    shutil.rmtree(tmp_path / "first")
    moved = settings_for(moved_root)

    generate_demo_data(moved.landing_dir, DemoSpec(**{**TINY_SPEC, "days": ("2026-11-19",), "seed": 5}))
    with _instance(moved.data_dir) as instance:
        daemon = run_once(tiny_definitions(moved), instance)
        assert daemon.runs and all(r.success for r in daemon.runs), [r for r in daemon.runs if not r.success]
        assert sorted(str(r.partition) for r in daemon.runs if r.job == "ingest_videos") == [
            "2026-11-19|cam-a", "2026-11-19|cam-b"]
        assert [r.job for r in daemon.runs].count("train_and_register") == 1  # a retrain from the moved folder

        registry = ModelRegistry(moved.mlflow_tracking_uri, moved.mlflow_artifact_root)
        lake = Lake(moved.lake_root)
        versions = registry.client.search_model_versions("name='vision_assets_detector'")
        assert sorted(str(v.version) for v in versions) == ["1", "2"]
        for version in versions:  # both the version registered before the move and the one after
            pulled = registry.download("vision_assets_detector", str(version.version), tmp_path / f"pull{version.version}")
            weights = list(Path(pulled).rglob("*.pt"))
            assert [sha256_file(w) for w in weights] == [version.tags["checkpoint_sha256"]]
            dataset = lake.read_json(f"datasets/{version.tags['dataset_version']}/dataset.json")
            assert Path(lake.path(dataset["data_yaml"])).exists()
            assert pd.read_parquet(lake.path(version.tags["dataset_manifest"]))["video_sha256"].nunique() >= 4

        from vision_assets import cli

        monkeypatch.setenv("VISION_DATA_DIR", str(moved.data_dir))
        monkeypatch.setenv("DAGSTER_HOME", str(moved.dagster_home))
        capsys.readouterr()
        assert cli.main(["lineage", "--json"]) == 0
        audit = json.loads(capsys.readouterr().out)
        assert {v["video_sha256"] for v in audit["videos"]} <= {sha256_file(p) for p in moved.landing_dir.rglob("*.mp4")}

        # Every label version, with plain pandas over the hive folder (label_version is the folder, not a column).
        versions = pd.read_parquet(Path(lake.path("tables/annotation_versions")))
        assert versions["label_version"].nunique() == 4 and len(versions) > 0

        assert _records_naming(moved.data_dir, str(original.data_dir), instance, registry) == []
        assert _records_naming(moved.data_dir, str(trained_world.data_dir), instance, registry) == []
    assert not (tmp_path / "first").exists()  # nothing wrote back into the old place either
