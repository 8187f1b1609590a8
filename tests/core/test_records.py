"""The model chain's typed records read the lake's JSON as it is and write it back unchanged: today's records,
older ones without later fields, and keys no type names."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from vision_assets.core.lake import Lake
from vision_assets.core.records import Checkpoint, DatasetVersion, Evaluation, RecordError, Registration

DATASET = {"version": "ab12", "class_names": ["car", "person"], "split_config": {"train": 0.7, "val": 0.15},
           "data_yaml": "datasets/ab12/yolo/data.yaml", "manifest_path": "tables/dataset_manifest/version=ab12/part.parquet",
           "labels_path": "tables/dataset_labels/version=ab12/part.parquet", "counts": {"train": {"frames": 3}},
           "videos": ["v1", "v2"], "label_versions": ["l1"], "label_versions_considered": ["l1", "l0"],
           "label_files": [], "video_sources": [{"video_sha256": "v1"}]}
CHECKPOINT = {"fingerprint": "f1", "checkpoint_sha256": "c" * 64, "checkpoint_path": "checkpoints/blobs/c.pt",
              "weights_sha256": "w" * 64, "dataset_version": "ab12", "dataset_manifest": None,
              "dataset_manifest_sha256": None, "mlflow_run_id": "r1", "config": {"imgsz": 96, "epochs": 2}, "seed": 0,
              "device": "cpu", "epochs": 2, "best_epoch": 2, "val_fitness": 0.1, "git_commit": "abc",
              "code_version": "1", "dagster_run_id": "d1", "environment": {"python": "3.11"}}
EVALUATION = {"evaluation_key": "cccc-t-e", "checkpoint_sha256": "c" * 64, "dataset_version": "ab12",
              "test_split_hash": "t", "test_set_hash": "ts", "test_images": 3, "overall": {"map50": 0.5},
              "inference_config": {"imgsz": 96, "conf": 0.09, "iou": 0.7, "max_det": 100, "class_names": ["car"],
                                   "tracker": "bytetrack"},
              "tracking": {"overall": {"idf1": 0.4}}, "error_samples": None, "plots": {}, "errors": {"counts": {}}}


@pytest.mark.parametrize("kind, data", [(DatasetVersion, DATASET), (Checkpoint, CHECKPOINT), (Evaluation, EVALUATION)])
def test_a_record_read_and_written_again_is_the_same_json_byte_for_byte(tmp_path, kind, data):
    lake = Lake(str(tmp_path / "lake"))
    lake.write_json("record.json", data)
    before = lake.local_path("record.json").read_bytes()
    lake.write_json("again.json", kind.from_json(lake.read_json("record.json")).to_json())
    assert lake.local_path("again.json").read_bytes() == before


def test_older_records_load_unknown_keys_survive_and_missing_required_fields_are_named():
    old = {"checkpoint_sha256": "c" * 64, "checkpoint_path": "k.pt", "dataset_version": "d", "config": {"imgsz": 64},
           "retired_field": [1, 2]}
    record = Checkpoint.from_json(old)
    assert record.imgsz == 64 and record.weights_sha256 is None and record.extra == {"retired_field": [1, 2]}
    assert record.to_json() == old
    assert replace(record, sweep_id="s1").to_json() == {**old, "sweep_id": "s1"}
    with pytest.raises(RecordError, match="evaluation record: missing checkpoint_sha256, dataset_version"):
        Evaluation.from_json({"evaluation_key": "k", "test_split_hash": "t", "overall": {}})
    with pytest.raises(RecordError, match="expected a JSON object, found list"):
        DatasetVersion.from_json([])


def test_the_champion_part_of_an_evaluation_is_written_once_it_was_compared():
    evaluation = Evaluation.from_json(EVALUATION)
    assert {"champion", "champion_evaluation", "comparison"}.isdisjoint(evaluation.to_json())
    compared = replace(evaluation, champion={"version": None, "note": "no champion yet"}, comparison=[])
    written = json.loads(json.dumps(compared.to_json()))
    assert written["champion"]["note"] == "no champion yet" and written["champion_evaluation"] is None
    assert Evaluation.from_json(written) == compared and compared.regressed == 0
    assert Evaluation.from_json(written).tracking_overall == {"idf1": 0.4}


def test_a_registration_below_the_floor_has_the_keys_it_always_had():
    made = Registration(name="m", version=None, decision="not registered", dataset_version="d", checkpoint_sha256="c")
    assert made.to_json() == {"name": "m", "version": None, "decision": "not registered", "dataset_version": "d",
                              "checkpoint_sha256": "c"}
    assert not made.registered


def test_a_vision_error_names_its_object_and_its_problem():
    from vision_assets.core.errors import VisionError
    from vision_assets.core.training.sweep import SweepSpaceError

    made = VisionError(object="clip.mp4", problem="no video stream")
    assert str(made) == "clip.mp4: no video stream" and (made.object, made.problem) == ("clip.mp4", "no video stream")
    assert (VisionError("a.yaml: bad key").object, VisionError("no such thing").problem) == ("a.yaml", "no such thing")
    assert issubclass(SweepSpaceError, VisionError) and issubclass(RecordError, VisionError)
