"""The evaluation floor stops a version before it reaches the registry: the blocking check fails, nothing is
registered, the run fails; over the floor the check passes (real instance, real MLflow, records in a real lake)."""

from __future__ import annotations

import dagster as dg
from helpers import settings_for, tiny_definitions

from vision_assets.core.lake import Lake
from vision_assets.core.records import Checkpoint, DatasetVersion, Evaluation
from vision_assets.core.registry import DEFAULT_MODEL_NAME, ModelRegistry


def test_below_the_floor_nothing_is_registered_and_the_blocking_check_fails(tmp_path, instance):
    settings = settings_for(tmp_path / "data")
    lake = Lake(settings.lake_root)
    lake.write_json("assets/eval_report.json", Evaluation(
        evaluation_key="c" * 16 + "-t1-e1", checkpoint_sha256="c" * 64, dataset_version="d1", test_split_hash="t1",
        overall={"map50": 0.12, "map50_95": 0.05}).to_json())
    lake.write_json("assets/trained_checkpoint.json", Checkpoint(
        checkpoint_sha256="c" * 64, checkpoint_path="checkpoints/blobs/c.pt", dataset_version="d1",
        config={"imgsz": 64}).to_json())
    lake.write_json("assets/dataset_split.json", DatasetVersion(version="d1", class_names=["car"]).to_json())
    job = tiny_definitions(settings).resolve_implicit_global_asset_job_def()

    result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("registered_model")],
                                    run_config={"ops": {"registered_model": {"config": {"min_map50": 0.5}}}},
                                    raise_on_error=False)

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["evaluation_floor"].passed and checks["evaluation_floor"].blocking
    assert checks["evaluation_floor"].metadata["map50"].value == 0.12
    assert checks["registry_consistent"].passed
    assert not result.success  # a failed blocking ERROR check fails the run
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    assert registry.versions(DEFAULT_MODEL_NAME) == []
    assert lake.read_json("assets/registered_model.json")["decision"] == "not registered (below the evaluation floor)"
