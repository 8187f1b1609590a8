"""Metadata for reading: numbers to 4 significant digits, MLflow runs and models as links, small thumbnails."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vision_assets.defs.markdown import md_table, mlflow_model_url, mlflow_run_link, readable


def test_numbers_are_rounded_to_four_significant_digits():
    assert [readable(v) for v in (0.694719471947, 1234567.0, 0.000123456, 0.0)] == [0.6947, 1235000.0, 0.0001235, 0.0]
    table = md_table(pd.DataFrame({"metric": ["map50_95"], "value": [0.694719471947]}))
    assert table.splitlines()[-1] == "| map50_95 | 0.6947 |"


def test_mlflow_links_point_at_the_configured_ui(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("VISION_MLFLOW_UI_URL", "http://mlflow.example:5001/")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.tracking.MlflowClient(uri)
    experiment = client.create_experiment("links", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(experiment)
    link = mlflow_run_link(uri, run.info.run_id)["mlflow_run"]
    assert link.url == f"http://mlflow.example:5001/#/experiments/{experiment}/runs/{run.info.run_id}"
    assert mlflow_model_url("vision detector", 3) == "http://mlflow.example:5001/#/models/vision%20detector/versions/3"
    assert mlflow_run_link(uri, "0" * 32) == {"mlflow_run": "0" * 32}  # a run that is gone is still named


def test_thumbnails_stay_under_the_byte_budget():
    from vision_assets.core.preview import contact_sheet, decode_jpeg, thumbnail

    noise = [np.random.default_rng(i).integers(0, 256, (480, 640, 3), dtype=np.uint8) for i in range(12)]
    sheet = contact_sheet(noise, [f"clip_{i}.mp4 {i}.0s" for i in range(12)], columns=4, cell_width=320)
    small = thumbnail(sheet)
    assert len(small) <= 30_000 and decode_jpeg(small).shape[1] <= 720
    assert sheet.shape[1] == 4 * 320 and sheet.shape[0] == 3 * (240 + 16)
