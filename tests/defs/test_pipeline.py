"""The whole asset graph on tiny generated data, in a real Dagster instance with real MLflow and files.

The first whole-graph pass is the session's trained world (conftest); each test reads or extends its own copy."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from helpers import run_once, tiny_definitions

pytestmark = pytest.mark.slow  # the whole graph, training included


def test_whole_chain_materializes_and_model_traces_back_to_video_bytes(trained_world, world_copy, monkeypatch, capsys):
    from vision_assets.core.lake import Lake, sha256_file
    from vision_assets.core.registry import ModelRegistry

    settings, instance = world_copy
    runs = trained_world.runs
    cwd_before = set(os.listdir(Path.cwd()))

    assert runs and all(r.success for r in runs), [r for r in runs if not r.success]
    # Nothing written into the working directory by the build (Ultralytics and MLflow both like to).
    assert trained_world.wrote_into_cwd == frozenset()
    for key in ("raw_videos", "sampled_frames", "annotations", "qc_annotations", "hard_examples"):
        materialized = instance.get_materialized_partitions(dg.AssetKey(key))
        assert len(materialized) == 2, (key, materialized)  # 2 scenes x 1 day
    for key in ("dataset_split", "trained_checkpoint", "eval_report", "registered_model"):
        assert instance.get_latest_materialization_event(dg.AssetKey(key)) is not None, key
    checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("dataset_split"), "no_video_in_two_splits")])
    assert list(checks.values())[0].status.value == "SUCCEEDED"

    # Lineage: registered version -> dataset version -> manifest -> the sha256 of the landed video files.
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    champion = registry.champion("vision_assets_detector")
    assert champion is not None and str(champion.version) == "1"
    assert champion.tags["dagster_run_id"] in {r.run_id for r in runs}
    lake = Lake(settings.lake_root)
    dataset = lake.read_json(f"datasets/{champion.tags['dataset_version']}/dataset.json")
    manifest = pd.read_parquet(lake.path(champion.tags["dataset_manifest"]))  # a lake key, resolved by the lake
    landed = {sha256_file(p) for p in settings.landing_dir.rglob("*.mp4")}
    assert set(manifest["video_sha256"]) == landed == set(dataset["videos"])
    assert manifest.groupby("video_sha256")["split"].nunique().max() == 1
    report = lake.read_json("assets/eval_report.json")
    assert report["dataset_version"] == champion.tags["dataset_version"]
    assert 0.0 <= report["overall"]["map50_95"] <= 1.0
    assert set(report["by_scene"]) == {"cam-a", "cam-b"}  # every scene has test footage

    # The lineage audit from the command line answers the same question.
    from vision_assets import cli

    monkeypatch.setenv("VISION_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))
    capsys.readouterr()
    assert cli.main(["lineage", "--json"]) == 0
    audit = json.loads(capsys.readouterr().out)
    assert audit["dataset"]["version"] == champion.tags["dataset_version"]
    assert {v["video_sha256"] for v in audit["videos"]} == landed
    assert {v["source_name"] for v in audit["videos"]} == {p.name for p in settings.landing_dir.rglob("*.mp4")}
    label_blobs = {f["label_file_sha256"] for f in audit["label_files"]}
    assert label_blobs == {sha256_file(p) for p in settings.landing_dir.rglob("*.xml")}

    # Nor by the audit.
    assert set(os.listdir(Path.cwd())) == cwd_before


def test_second_run_ingests_nothing_and_registers_nothing_new(world_copy, material):
    from vision_assets.core.lake import Lake
    from vision_assets.core.registry import ModelRegistry

    settings, instance = world_copy  # after the first run
    defs = tiny_definitions(settings)

    second = run_once(defs, instance)

    # Only the champion registered by the first pass watching the footage (footage_monitoring, issue 22).
    assert [r.assets for r in second.runs] == [["footage_monitoring"]] * 2 and all(r.success for r in second.runs)
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    versions = registry.client.search_model_versions("name='vision_assets_detector'")
    assert [str(v.version) for v in versions] == ["1"]
    ingests = instance.fetch_materializations(dg.AssetKey("raw_videos"), limit=100).records
    assert len(ingests) == 2  # one per scene x day, from the first run only

    # A partition whose only video is broken still goes through, down to an empty hard-example queue.
    broken = settings.landing_dir / "cam-c" / "2026-11-18"
    broken.mkdir(parents=True)
    shutil.copy(material / "videos" / "broken" / "empty.mp4", broken / "empty.mp4")
    third = run_once(defs, instance)
    assert third.runs and all(r.success for r in third.runs)
    assert [r.job for r in third.runs if r.job == "train_and_register"] == []
    queue = Lake(settings.lake_root).read_table("hard_examples", {"scene": "cam-c", "day": "2026-11-18"})
    assert queue is not None and queue.empty


def test_new_footage_gives_a_new_dataset_version_and_a_fair_champion_decision(world_copy):
    """A new day arrives: its partitions are carried through, splits of known videos stay put, a new version is
    trained and registered, and champion status is decided on the new test split for both models."""
    from helpers import TINY_SPEC

    from vision_assets.core.lake import Lake
    from vision_assets.core.registry import ModelRegistry
    from vision_assets.demo import DemoSpec, generate_demo_data

    settings, instance = world_copy  # after the first run
    defs = tiny_definitions(settings)
    lake = Lake(settings.lake_root)
    first = lake.read_json("assets/dataset_split.json")
    first_manifest = lake.read_table("dataset_manifest", {"version": first["version"]})

    generate_demo_data(settings.landing_dir, DemoSpec(**{**TINY_SPEC, "days": ("2026-11-19",), "seed": 5}))
    second_run = run_once(defs, instance)

    assert all(r.success for r in second_run.runs)
    ingested = [r.partition for r in second_run.runs if r.job == "ingest_videos"]
    assert sorted(map(str, ingested)) == ["2026-11-19|cam-a", "2026-11-19|cam-b"]
    second = lake.read_json("assets/dataset_split.json")
    assert second["version"] != first["version"] and len(second["videos"]) == 8
    second_manifest = lake.read_table("dataset_manifest", {"version": second["version"]})
    before = first_manifest.groupby("video_sha256")["split"].first()
    after = second_manifest.groupby("video_sha256")["split"].first()
    assert after[before.index].equals(before)  # sticky: no known video changed split

    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    v2 = registry.client.get_model_version("vision_assets_detector", "2")
    assert v2.tags["dataset_version"] == second["version"]
    decision = lake.read_json("assets/registered_model.json")["decision"]
    champion = str(registry.champion("vision_assets_detector").version)
    assert decision.startswith("champion (beat v1" if champion == "2" else "not promoted (v1 keeps it")
    assert v2.tags["champion_decision"] == decision
    v1 = registry.client.get_model_version("vision_assets_detector", "1")
    same_split = v1.tags["test_split_hash"] == v2.tags["test_split_hash"]
    assert decision.endswith("(same test split))" if same_split else "re-evaluated on this test split)")

    run = registry.client.get_run(v2.run_id)
    assert run.data.params["dataset_version"] == second["version"]
    assert {"seed", "epochs", "imgsz", "git_commit", "device_resolved"} <= set(run.data.params)
    assert "test_map50_95" in run.data.metrics
    assert [a.path for a in registry.client.list_artifacts(v2.run_id, "weights")] == ["weights/best.pt"]
    # Ultralytics' own MLflow callback is off: no experiment or run of its own.
    assert {e.name for e in registry.client.search_experiments()} == {"Default", "vision_assets"}
    assert registry.client.search_runs(["0"]) == []
