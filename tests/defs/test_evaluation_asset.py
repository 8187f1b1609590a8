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
    # Evaluated once, here, at its own recorded image size and with tracking: the gate reads it, per scene too.
    assert report["champion_evaluation"]["inference_config"]["imgsz"] == 64
    assert set(report["champion_evaluation"]["tracking"]["by_scene"]) == {"cam-a"}
    from vision_assets.core.records import Evaluation
    from vision_assets.core.registry import gate_against_champion

    gate, source = gate_against_champion(registry, "vision_assets_detector", Evaluation.from_json(report), lake)
    assert source == "eval_report (same test split)"
    assert "idf1 scene=cam-a" in {row.metric for row in gate.rows}
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
    # The interactive page beside the evaluation, linked through the links server; intervals in the metadata.
    assert report["report_page"] == f"evaluations/{report['evaluation_key']}/report.html" and lake.exists(report["report_page"])
    assert metadata["report_page"].url.endswith(f"/lake/{report['report_page']}")
    assert metadata["map50_95_95ci"].value == "no interval (1 video)"  # one test video: no spread between videos
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


def test_the_registered_package_serves_the_operating_point_eval_report_evaluated(tmp_path, instance):
    import json

    import mlflow.pyfunc
    import pandas as pd

    from vision_assets.core.lake import keys
    from vision_assets.core.records import Evaluation
    from vision_assets.core.registry import ModelRegistry
    from vision_assets.defs.datasets import dataset_split
    from vision_assets.defs.evaluation import eval_report
    from vision_assets.defs.registry import registered_model
    from vision_assets.defs.training import trained_checkpoint
    from vision_assets.defs.wiring import build_resources

    settings = settings_for(tmp_path / "data")
    lake, dataset, _, _ = build_evaluation_lake(tmp_path, root=settings.lake_root)
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    candidate = {**_checkpoint(lake, registry, confident_weights(tmp_path), dataset, "candidate"), "fingerprint": "f1"}
    lake.write_json("assets/dataset_split.json", dataset.to_json())
    lake.write_json("assets/trained_checkpoint.json", candidate)
    # An operating point unlike the old serving defaults (conf 0.25, max_det 300).
    run_config = {"ops": {"eval_report": {"config": {"confidence": 0.09, "max_det": 50, "tracking": False,
                                                     "replays": False}}}}
    result = dg.materialize([dataset_split, trained_checkpoint, eval_report, registered_model],
                            selection=[eval_report, registered_model], resources=build_resources(settings),
                            instance=instance, run_config=run_config)
    assert result.success
    evaluation = Evaluation.from_json(lake.read_json("assets/eval_report.json"))
    evaluated = evaluation.inference_config
    assert (evaluated["conf"], evaluated["max_det"], evaluated["imgsz"]) == (0.09, 50, 64)

    version = lake.read_json("assets/registered_model.json")["version"]
    model_uri = f"models:/vision_assets_detector/{version}"
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    package = registry.download("vision_assets_detector", version, tmp_path / "pulled")
    assert json.loads((package / "inference_config.json").read_text()) == evaluated
    tags = registry.get_version("vision_assets_detector", version).tags
    assert (float(tags["conf_threshold"]), int(tags["max_det"])) == (0.09, 50)
    served = mlflow.pyfunc.load_model(model_uri)
    assert served.model_config == evaluated
    # The pyfunc predicts at that point: no box under the evaluated confidence, at most max_det per image.
    test = lake.read_table(keys.DATASET_MANIFEST, {"version": dataset.version})
    images = [lake.local_path(key).read_bytes() for key in test["image_path"]]
    boxes = served.predict(pd.DataFrame({"image": images}))
    assert len(boxes) and (boxes["score"] >= evaluated["conf"]).all()
    assert boxes.groupby("image_index").size().max() <= 50
