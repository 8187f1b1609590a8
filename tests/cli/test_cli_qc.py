"""`vision-assets qc`: import plus QC of label files outside Dagster, as a real process on real and crafted files."""

from __future__ import annotations

import json

import pytest
from test_cli_video import run_cli


def test_qc_json_on_the_real_mot_ground_truth(material):
    result = run_cli("qc", str(material / "mot" / "TUD-Campus" / "gt.txt"), "--image-size", "640x480", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["rows"], report["frames"], report["tracks"]) == (359, 71, 8)
    assert report["classes"] == {"pedestrian": 359}
    # TUD-Campus boxes of people walking out of the 640 px frame: exactly these MOT lines stick out.
    assert report["rules"]["box_outside_image"] == 19 and sum(report["rules"].values()) == 19
    assert all(isinstance(row["source_id"], int) and row["rules"] == ["box_outside_image"] for row in report["rejected"])
    assert report["rejected"][0]["source_id"] == 115


def test_qc_json_names_each_rejected_coco_annotation_and_its_rules(tmp_path):
    coco = {
        "images": [{"id": 1, "file_name": "frame_000001.jpg", "width": 100, "height": 80},
                   {"id": 2, "file_name": "frame_000002.jpg", "width": 100, "height": 80}],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400},
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20.5], "area": 410},  # duplicate of 10
            {"id": 12, "image_id": 1, "category_id": 2, "bbox": [90, 70, 30, 30], "area": 900},  # leaves the image
            {"id": 13, "image_id": 2, "category_id": 7, "bbox": [5, 5, 10, 10], "area": 100},  # unknown category
            {"id": 14, "image_id": 2, "category_id": 2, "bbox": [40, 30, 0, 10], "area": 0},  # zero width
            {"id": 15, "image_id": 2, "category_id": 2, "bbox": [50, 30, 10, 10], "area": 300},  # area off the box
        ],
    }
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(coco))

    result = run_cli("qc", str(path), "--classes", "car,person", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["rows"], report["frames"], report["tracks"]) == (6, 2, 0)
    assert report["classes"] == {"": 1, "car": 2, "person": 3}
    assert {row["source_id"]: row["rules"] for row in report["rejected"]} == {
        11: ["duplicate_box"], 12: ["box_outside_image"], 13: ["unknown_class"], 14: ["box_not_positive"]}
    assert {row["source_id"]: row["rules"] for row in report["flagged"]} == {15: ["area_mismatch"]}
    assert {k: v for k, v in report["rules"].items() if v} == {
        "duplicate_box": 1, "box_outside_image": 1, "unknown_class": 1, "box_not_positive": 1, "area_mismatch": 1}


@pytest.mark.needs_material("coco/shapes/gt_dataset.json", "coco/shapes/dt_dataset.json")
def test_qc_on_a_folder_reports_unreadable_files_instead_of_failing(material):
    result = run_cli("qc", str(material / "coco" / "shapes"))

    assert result.returncode == 0, result.stderr
    assert "9 rows, 3 frames, 0 tracks" in result.stdout
    assert "dt_dataset.json: a COCO results list" in result.stdout


def test_qc_on_a_missing_path_is_a_clear_error(tmp_path):
    result = run_cli("qc", str(tmp_path / "nothing.json"))
    assert result.returncode == 2 and "nothing.json" in result.stderr and "Traceback" not in result.stderr


def test_a_file_without_declared_sizes_does_not_sink_the_rest_of_a_folder(tmp_path, material):
    import shutil

    from vision_assets.core.qc import audit_labels

    shutil.copy(material / "coco" / "shapes" / "gt_dataset.json", tmp_path)
    shutil.copy(material / "mot" / "TUD-Campus" / "gt.txt", tmp_path)

    report = audit_labels(tmp_path)

    assert (report["rows"], report["files_without_image_size"]) == (368, ["gt.txt"])
    # Only what is outside any image is rejected: TUD boxes reaching left of x=0 or above y=0.
    assert {row["source_file"] for row in report["rejected"]} == {"gt.txt"}
    assert all(min(row["box"][:2]) < 0 for row in report["rejected"]) and len(report["rejected"]) == 11


def test_a_cvat_yolo_export_folder_is_one_label_set_with_its_class_names(tmp_path):
    from vision_assets.core.qc import audit_labels

    (tmp_path / "obj.names").write_text("cat\ndog\nbird\n")
    (tmp_path / "obj.data").write_text("classes = 3\nnames = obj.names\n")
    labels = tmp_path / "obj_train_data"
    labels.mkdir()
    # Shifted ids: 1..3 where 0..2 was meant; frame 1 alone looks fine, the set as a whole does not.
    (labels / "frame_000001.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    (labels / "frame_000002.txt").write_text("3 0.5 0.5 0.2 0.2\n2 0.2 0.2 0.1 0.1\n")

    report = audit_labels(tmp_path, image_size=(100, 100))

    assert report["unreadable"] == [] and report["rows"] == 3
    assert report["classes"] == {"": 1, "bird": 1, "dog": 1}
    assert report["rules"]["class_id_off_by_one"] == 3


def test_qc_refuses_a_cvat_file_whose_keyframes_would_expand_past_the_frame_limit(tmp_path):
    """450 bytes that say stop_frame 30,000,000: refused at once with the bound, not expanded until the OOM killer."""
    path = tmp_path / "huge.xml"
    path.write_text('<?xml version="1.0"?><annotations><version>1.1</version><meta><task><mode>interpolation</mode>'
                    "<start_frame>0</start_frame><stop_frame>30000000</stop_frame></task></meta>"
                    '<track id="0" label="car"><box frame="0" outside="0" occluded="0" keyframe="1" xtl="1" ytl="1" '
                    'xbr="9" ybr="9"/></track></annotations>')

    result = run_cli("qc", str(path), "--classes", "car")

    assert "stop_frame 30000000 reaches frame 30,000,000, past 1,000,000 frames (VISION_MAX_LABEL_FRAMES" in (
        result.stdout + result.stderr)
    assert "Traceback" not in result.stderr


def test_qc_judges_against_the_project_classes_and_aliases_by_default(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "vision.yaml").write_text("classes: [car, {name: pedestrian, aliases: [walker]}]\n")
    coco = {"images": [{"id": 1, "file_name": "frame_000000.jpg", "width": 100, "height": 80}],
            "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "walker"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]},
                            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [40, 10, 20, 20]},
                            {"id": 3, "image_id": 1, "category_id": 2, "bbox": [10, 40, 20, 20]}]}
    path = tmp_path / "v.json"
    path.write_text(json.dumps(coco))

    project = json.loads(run_cli("qc", str(path), "--json", data_dir=data).stdout)
    own = json.loads(run_cli("qc", str(path), "--classes", "file", "--json", data_dir=data).stdout)

    assert project["classes"] == {"person": 2, "pedestrian": 1}  # walker -> pedestrian through the alias
    assert project["rules"]["unknown_class"] == 2 and project["classes_from"].endswith(str(data / "vision.yaml"))
    assert own["rules"]["unknown_class"] == 0 and own["pass_rate"] == 1.0
