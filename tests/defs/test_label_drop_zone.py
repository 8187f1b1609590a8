"""The label drop zone: label files in any format, named after their video, imported by a sensor and put under QC."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pandas as pd
import pytest
from helpers import settings_for, tiny_definitions

from vision_assets.core.ingest import scan_label_drop_zone
from vision_assets.core.labels import ANNOTATION_DEFAULTS, write_annotations
from vision_assets.core.lake import Lake
from vision_assets.local.daemon import LocalDaemon

PARTITION = {"scene": "gate", "day": "2024-01-01"}


def coco_for_one_frame(frame: int, boxes: list[tuple[str, list[float]]]) -> dict:
    classes = ["car", "pedestrian", "cyclist"]
    return {
        "images": [{"id": 1, "file_name": f"frame_{frame:06d}.jpg", "width": 320, "height": 240}],
        "categories": [{"id": i + 1, "name": name} for i, name in enumerate(classes)],
        "annotations": [{"id": 100 + n, "image_id": 1, "category_id": classes.index(name) + 1, "bbox": bbox,
                         "area": bbox[2] * bbox[3], "iscrowd": 0} for n, (name, bbox) in enumerate(boxes)],
    }


def tick_and_run(defs, instance, sensor: str) -> LocalDaemon:
    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    cursor = daemon.automation_cursor()
    daemon.sensor_tick(sensor)
    daemon.automation_until_quiet(cursor)
    return daemon


@pytest.mark.slow
def test_dropped_label_files_are_imported_attached_to_their_video_and_put_under_qc(tmp_path, instance, material):
    settings = settings_for(tmp_path / "data")
    video_dir = settings.landing_dir / "gate" / "2024-01-01"
    video_dir.mkdir(parents=True)
    shutil.copy(material / "videos" / "realshort.mp4", video_dir / "cam.mp4")
    defs = tiny_definitions(settings)
    assert all(r.success for r in tick_and_run(defs, instance, "landing_sensor").runs)
    lake = Lake(settings.lake_root)
    video = lake.read_table("raw_videos", PARTITION).iloc[0]

    drop = settings.landing_dir / "annotations" / "gate" / "2024-01-01"
    drop.mkdir(parents=True)
    (drop / "cam.json").write_text(json.dumps(coco_for_one_frame(16, [
        ("car", [10, 20, 30, 40]), ("pedestrian", [300, 200, 50, 50]), ("car", [10.5, 20, 30, 40])])))
    yolo_rows = pd.DataFrame([{**ANNOTATION_DEFAULTS, "frame_index": 5, "class_name": "cyclist", "x1": 32.0,
                               "y1": 24.0, "x2": 96.0, "y2": 72.0, "source_file": "x", "source_format": "yolo"}])
    write_annotations(yolo_rows, "yolo", drop / "ghost", class_names=["car", "pedestrian", "cyclist"], image_size=(320, 240))
    (settings.landing_dir / "annotations" / "stray.json").write_text("{}")
    assert [d.refused != "" for d in scan_label_drop_zone(settings.landing_dir)] == [False, False, True]

    daemon = tick_and_run(defs, instance, "label_drop_sensor")

    assert [(r.job, r.success) for r in daemon.runs][:1] == [("import_labels", True)]
    assert {a for r in daemon.runs for a in r.assets} >= {"import_labels", "qc_annotations"}
    labels = lake.read_table("annotations", PARTITION)
    assert labels["source_format"].tolist() == ["coco"] * 3
    assert set(labels["video_sha256"]) == {video["video_sha256"]} and set(labels["frame_index"]) == {16}
    assert sorted(labels["source_id"]) == ["100", "101", "102"]
    version = labels["label_version"].iloc[0]
    assert lake.read_table("annotation_versions", {**PARTITION, "label_version": version}) is not None
    sources = lake.read_table("label_sources", PARTITION)
    assert dict(zip(sources["source_file"], sources["format"])) == {"cam.json": "coco", "ghost": "unmatched"}
    assert sources["fingerprint"].str.len().eq(16).all()
    # QC on the dropped labels: the pedestrian leaves the 320x240 image, the second car duplicates the first.
    rejected = lake.read_table("qc_rejected", PARTITION).set_index("source_id")["reasons"].to_dict()
    assert rejected == {"101": "box_outside_image", "102": "duplicate_box"}
    checks = {e.asset_check_key.name: e.passed for e in _latest_checks(instance)}
    assert checks["label_files_matched"] is False  # "ghost" names no video of gate/2024-01-01

    assert LocalDaemon(defs, instance, log=lambda _: None).sensor_tick("label_drop_sensor") == 0  # nothing new

    (drop / "cam.json").write_text(json.dumps(coco_for_one_frame(16, [("car", [10, 20, 30, 40])])))
    assert all(r.success for r in tick_and_run(defs, instance, "label_drop_sensor").runs)
    relabelled = lake.read_table("annotations", PARTITION)
    assert len(relabelled) == 1 and relabelled["label_version"].iloc[0] != version
    old = lake.read_table("annotation_versions", {**PARTITION, "label_version": version})
    assert len(old) == 3  # the earlier version stays readable


def _latest_checks(instance):
    evaluations = {}
    for run in reversed(instance.get_runs()):  # oldest first, so later runs win
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            data = entry.dagster_event.event_specific_data
            evaluations[data.asset_check_key.name] = data
    return list(evaluations.values())
