"""eval_report in a real Dagster instance with real MLflow: the report's metadata, the champion's evaluation on the
same test set beside it, and a second materialization that finds the stored evaluation instead of computing."""

from __future__ import annotations

import base64
import re

import dagster as dg
import pytest
from evaluation_helpers import build_evaluation_lake, confident_weights
from helpers import settings_for

pytestmark = pytest.mark.slow  # two YOLO evaluations (candidate and champion) of a 12-frame video and 3 images


def _checkpoint(lake, registry, weights, dataset, name: str) -> dict:
    from vision_assets.core.lake import keys

    sha, key, _ = lake.put_blob_file(keys.CHECKPOINT_BLOBS, weights, ".pt")
    with registry.run(run_name=name, tags={"dataset_version": dataset.version}) as run_id:
        registry.log_artifact(run_id, weights, "weights")
    return {"checkpoint_sha256": sha, "checkpoint_path": key, "dataset_version": dataset.version,
            "config": {"imgsz": 64}, "mlflow_run_id": run_id}


def test_eval_report_compares_with_the_champion_and_never_evaluates_a_key_twice(tmp_path, instance):
    from vision_assets.core.registry import ModelRegistry
    from vision_assets.defs.datasets import dataset_split
    from vision_assets.defs.evaluation import eval_report
    from vision_assets.defs.training import trained_checkpoint
    from vision_assets.defs.wiring import build_resources

    settings = settings_for(tmp_path / "data")
    lake, dataset, untrained, _ = build_evaluation_lake(tmp_path, root=settings.lake_root)
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    candidate = _checkpoint(lake, registry, untrained, dataset, "candidate")
    champion = _checkpoint(lake, registry, confident_weights(tmp_path), dataset, "champion")
    version = registry.register("vision_assets_detector", champion["mlflow_run_id"], "weights",
                                {"checkpoint_sha256": champion["checkpoint_sha256"], "imgsz": "64"})
    registry.promote("vision_assets_detector", version.version)
    lake.write_json("assets/dataset_split.json", dataset.to_json())
    lake.write_json("assets/trained_checkpoint.json", candidate)

    def materialize():
        result = dg.materialize([dataset_split, trained_checkpoint, eval_report], selection=[eval_report],
                                resources=build_resources(settings), instance=instance)
        assert result.success
        (event,) = result.get_asset_materialization_events()
        return event.materialization.metadata, lake.read_json("assets/eval_report.json")

    metadata, report = materialize()
    assert metadata["computed"].value is True
    assert report["checkpoint_sha256"] == candidate["checkpoint_sha256"]
    assert report["champion"]["source"] == "evaluated now on this test set"
    assert report["champion_evaluation"]["checkpoint_sha256"] == champion["checkpoint_sha256"]
    assert report["champion_evaluation"]["test_split_hash"] == report["test_split_hash"]
    rows = report["comparison"]
    assert rows and {"metric", "slice_dimension", "slice_value", "champion", "candidate", "delta", "n_boxes",
                     "too_few"} <= set(rows[0])
    flags = [r["regressed"] for r in rows]
    assert flags == sorted(flags, reverse=True)  # regressions first
    assert {r["metric"] for r in rows} >= {"map50_95", "tracking_idf1"}
    # Shown inline, each picture small; the full-size ones are in the lake.
    markdown = metadata["report"].value
    images = re.findall(r"data:image/(?:png|jpeg);base64,([A-Za-z0-9+/=]+)", markdown)
    assert len(images) >= 3 and all(len(base64.b64decode(i)) < 40_000 for i in images)
    assert "Against the champion v1" in markdown and "confidence **" in markdown
    # MLflow: test metrics and the evaluation's files on the checkpoint's run.
    run = registry.client.get_run(candidate["mlflow_run_id"])
    assert {"test_map50_95", "test_confidence", "test_tracking_idf1"} <= set(run.data.metrics)
    logged = {a.path for a in registry.client.list_artifacts(candidate["mlflow_run_id"],
                                                             f"evaluation/{report['evaluation_key']}")}
    assert {f"evaluation/{report['evaluation_key']}/{n}" for n in ("eval.json", "pr_curves.png")} <= logged

    metadata_again, again = materialize()
    assert metadata_again["computed"].value is False
    assert again["evaluation_key"] == report["evaluation_key"]
    assert again["champion"]["source"] == "its stored evaluation on this test set"
    assert again["comparison"] == report["comparison"]
