"""trained_checkpoint shows its training: loss and val-mAP curves per epoch, the train split's class histogram and
val images with predictions inline, and a training page with all of it at full size."""

from __future__ import annotations

import base64
import re

import dagster as dg
import pytest
from training_helpers import FAST, tiny_dataset, tiny_lake, tiny_registry

from vision_assets.defs.datasets import dataset_split
from vision_assets.defs.io import LakeJsonIOManager
from vision_assets.defs.resources import LakeResource, MlflowResource, TaxonomyResource, TrainerResource
from vision_assets.defs.training import trained_checkpoint

pytestmark = pytest.mark.slow  # a 3-epoch training at imgsz 64


def test_trained_checkpoint_shows_curves_histogram_and_val_predictions(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_LINKS_URL", "http://links.example:3001")
    store = tiny_lake(tmp_path)
    dataset = tiny_dataset(store)
    store.write_json("assets/dataset_split.json", dataset)
    lake = LakeResource(root=str(tmp_path / "lake"), landing_dir=str(tmp_path / "landing"), work_dir=str(tmp_path / "work"))
    registry = tiny_registry(tmp_path)
    resources = {"lake": lake, "io_manager": LakeJsonIOManager(lake=lake),
                 "mlflow": MlflowResource(tracking_uri=registry.tracking_uri, artifact_root=registry.artifact_root),
                 "trainer": TrainerResource(**{**FAST, "epochs": 3}), "taxonomy": TaxonomyResource()}
    result = dg.materialize([dataset_split, trained_checkpoint], selection=[trained_checkpoint], resources=resources,
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    [materialization] = result.asset_materializations_for_node("trained_checkpoint")
    metadata = materialization.metadata
    record = result.output_for_node("trained_checkpoint")

    curves = metadata["training_curves"].value
    (png,) = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", curves)
    assert base64.b64decode(png)[:4] == b"\x89PNG"
    epochs = [line for line in curves.splitlines() if re.match(r"\| [123] \|", line)]
    assert len(epochs) == 3  # one table row per epoch
    histogram = metadata["train_class_histogram"].value
    assert "| car | 4 | 4 |" in histogram and "| pedestrian | 4 | 4 |" in histogram  # 8 train images, 1 box each
    thumbnails = re.findall(r"data:image/(?:png|jpeg);base64,([A-Za-z0-9+/=]+)", metadata["val_predictions"].value)
    assert len(thumbnails) == 4 and all(len(base64.b64decode(t)) <= 40_000 for t in thumbnails)
    page_key = f"reports/{record.checkpoint_sha256[:16]}/training.html"
    assert metadata["training_page"].url == f"http://links.example:3001/lake/{page_key}"
    page = store.local_path(page_key).read_text()
    assert 'id="training-curves"' in page and page.count("alt='val prediction") == 4
