"""A dataset version stays as it was written: Ultralytics reads it through a view in the work folder, so its label
caches land there, and lineage finds any file in the version's folder that the version did not write."""

from __future__ import annotations

import os

from training_helpers import tiny_dataset, tiny_lake

from vision_assets.core.datasets.export import local_data_yaml
from vision_assets.core.lake import keys
from vision_assets.core.registry.lineage import stray_files


def test_yolo_val_through_the_work_view_leaves_the_version_untouched_and_strays_are_named(tmp_path, monkeypatch):
    from ultralytics import YOLO

    monkeypatch.setenv("YOLO_OFFLINE", "1")
    lake = tiny_lake(tmp_path)
    dataset = tiny_dataset(lake)
    version_folder = lake.local_path(keys.dataset_folder(dataset.version))
    manifest = lake.read_table(keys.DATASET_MANIFEST, {"version": dataset.version})
    before = sorted(str(p.relative_to(version_folder)) for p in version_folder.rglob("*"))
    assert stray_files(lake, dataset.version, manifest) == []

    data_yaml = local_data_yaml(lake, dataset, tmp_path / "work" / "cache")
    assert tmp_path / "work" in data_yaml.parents
    link = data_yaml.parent / "images" / "test" / "test_000.jpg"
    assert link.is_symlink() and link.resolve() == (version_folder / "yolo" / "images" / "test" / "test_000.jpg")
    YOLO("yolov8n.yaml").val(data=str(data_yaml), split="test", imgsz=64, batch=4, workers=0, plots=False,
                             device="cpu", verbose=False, project=str(tmp_path / "val"), name="val")

    assert (data_yaml.parent / "labels" / "test.cache").exists()  # Ultralytics did write its cache: in the view
    assert sorted(str(p.relative_to(version_folder)) for p in version_folder.rglob("*")) == before
    assert local_data_yaml(lake, dataset, tmp_path / "work" / "cache") == data_yaml  # built once, reused

    # What `yolo val data=<the version's own data.yaml>` used to leave behind is found and named.
    (version_folder / "yolo" / "labels" / "test.cache").write_bytes(b"cache")
    os.symlink("/nowhere", version_folder / "yolo" / "images" / "test" / "extra.jpg")
    assert stray_files(lake, dataset.version, manifest) == [
        f"{keys.dataset_yolo_folder(dataset.version)}/images/test/extra.jpg",
        f"{keys.dataset_yolo_folder(dataset.version)}/labels/test.cache"]
