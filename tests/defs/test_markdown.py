"""Metadata for reading: numbers to 4 significant digits, MLflow runs and models as links, small thumbnails."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from vision_assets.defs.markdown import md_table, mlflow_model_url, mlflow_run_link, readable


def test_numbers_are_rounded_to_four_significant_digits():
    assert [readable(v) for v in (0.694719471947, 1234567.0, 0.000123456, 0.0)] == [0.6947, 1235000.0, 0.0001235, 0.0]
    table = md_table(pd.DataFrame({"metric": ["map50_95"], "value": [0.694719471947]}))
    assert table.splitlines()[-1] == "| map50_95 | 0.6947 |"


def test_mlflow_links_are_stable_redirects_resolved_when_opened(tmp_path, monkeypatch):
    """Metadata holds the links server's address, never the MLflow UI's port: the server started with another
    --mlflow-port sends the same link to the run in that UI, its experiment looked up when opened."""
    import mlflow

    from vision_assets.links_server import LinksServer

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.tracking.MlflowClient(uri)
    experiment = client.create_experiment("links", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(experiment)
    no_redirect = urllib.request.build_opener(_NoRedirect)
    with LinksServer(tmp_path / "lake", "http://127.0.0.1:5123", uri) as server:
        monkeypatch.setenv("VISION_LINKS_URL", server.url)
        link = mlflow_run_link(uri, run.info.run_id)["mlflow_run"].url
        assert link == f"{server.url}/mlflow/runs/{run.info.run_id}" and "5000" not in link
        with pytest.raises(urllib.error.HTTPError) as redirect:
            no_redirect.open(link)
        assert redirect.value.code == 302
        assert redirect.value.headers["Location"] == (
            f"http://127.0.0.1:5123/#/experiments/{experiment}/runs/{run.info.run_id}?workflowType=machine_learning")
        with pytest.raises(urllib.error.HTTPError) as model:
            no_redirect.open(mlflow_model_url("vision detector", 3))
        assert model.value.headers["Location"] == (
            "http://127.0.0.1:5123/#/models/vision%20detector/versions/3?workflowType=machine_learning")
        with pytest.raises(urllib.error.HTTPError) as gone:
            no_redirect.open(mlflow_run_link(uri, "0" * 32)["mlflow_run"].url)
        assert gone.value.code == 404  # a run that is gone is said so when opened


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_links_server_serves_report_pages_and_ranges_but_not_the_rest_of_the_lake(tmp_path):
    from vision_assets.links_server import LinksServer

    page = tmp_path / "lake" / "evaluations" / "k1" / "report.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html>report</html>")
    (tmp_path / "lake" / "tables").mkdir()
    (tmp_path / "lake" / "tables" / "secret.parquet").write_bytes(b"x")
    with LinksServer(tmp_path / "lake", "http://127.0.0.1:5123", "sqlite://") as server:
        with urllib.request.urlopen(f"{server.url}/lake/evaluations/k1/report.html") as response:
            assert response.read() == b"<html>report</html>" and response.headers["Content-Type"] == "text/html"
        ranged = urllib.request.Request(f"{server.url}/lake/evaluations/k1/report.html", headers={"Range": "bytes=6-11"})
        with urllib.request.urlopen(ranged) as response:
            assert response.status == 206 and response.read() == b"report"
        for path in ("tables/secret.parquet", "evaluations/../tables/secret.parquet", "evaluations/k2/report.html"):
            with pytest.raises(urllib.error.HTTPError) as missing:
                urllib.request.urlopen(f"{server.url}/lake/{path}")
            assert missing.value.code == 404


def test_thumbnails_stay_under_the_byte_budget():
    from vision_assets.core.preview import contact_sheet, decode_jpeg, thumbnail

    noise = [np.random.default_rng(i).integers(0, 256, (480, 640, 3), dtype=np.uint8) for i in range(12)]
    sheet = contact_sheet(noise, [f"clip_{i}.mp4 {i}.0s" for i in range(12)], columns=4, cell_width=320)
    small = thumbnail(sheet)
    assert len(small) <= 30_000 and decode_jpeg(small).shape[1] <= 720
    assert sheet.shape[1] == 4 * 320 and sheet.shape[0] == 3 * (240 + 16)
