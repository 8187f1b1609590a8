"""score_coco_files: pycocotools' numbers on real COCO files, through the project's evaluation path."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from vision_assets.core.evaluation.detection_files import InputFileError, score_coco_files
from vision_assets.core.evaluation.metrics import COCO_STAT_NAMES

# The MANIFEST's pycocotools 2.0.11 reference for coco/shapes (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100,
# ARs, ARm, ARl).
SHAPES_STATS = [0.6947194719471946, 0.6947194719471946, 0.6947194719471946, -1.0, 0.7920792079207921, 0.0,
                0.6666666666666666, 0.75, 0.75, -1.0, 0.7916666666666666, 0.0]  # fmt: skip


@pytest.fixture(scope="module")
def shapes(material):
    folder = material / "coco" / "shapes"
    return folder / "gt_dataset.json", folder / "dt_dataset.json"


def test_reproduces_pycocotools_stats(shapes):
    result = score_coco_files(*shapes)
    assert len(result["stats"]) == 12
    for got, expected, name in zip(result["stats"], SHAPES_STATS, COCO_STAT_NAMES):
        assert got == pytest.approx(expected, abs=1e-9), name
    assert result["stat_names"] == list(COCO_STAT_NAMES)
    assert result["map50_95"] == pytest.approx(SHAPES_STATS[0], abs=1e-9)
    assert result["map50"] == pytest.approx(SHAPES_STATS[1], abs=1e-9)
    assert result["map75"] == pytest.approx(SHAPES_STATS[2], abs=1e-9)
    assert (result["n_images"], result["n_ground_truth"], result["n_detections"]) == (3, 9, 9)


def test_per_class_ap_matches_pycocotools_run_on_the_files(shapes):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(shapes[0]))
        ev = COCOeval(gt, gt.loadRes(str(shapes[1])), "bbox")
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][:, :, :, 0, -1]  # area "all", 100 detections
    expected = {}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k]
        expected[gt.cats[int(cat_id)]["name"]] = float(p[p > -1].mean())
    result = score_coco_files(*shapes)
    assert list(result["per_class_ap"]) == ["cloud", "heart", "arrow", "star"]
    for name, ap in expected.items():
        assert result["per_class_ap"][name] == pytest.approx(ap, abs=1e-12), name
    # Known values: the mean of the per-class APs is the overall AP.
    assert np.mean(list(result["per_class_ap"].values())) == pytest.approx(SHAPES_STATS[0], abs=1e-12)


def test_result_is_json_ready_and_class_without_ground_truth_is_null(tmp_path, shapes):
    gt = json.loads(shapes[0].read_text())
    gt["categories"].append({"id": 99, "name": "unused"})
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(gt))
    result = score_coco_files(gt_path, shapes[1])
    assert result["per_class_ap"]["unused"] is None
    assert json.loads(json.dumps(result, allow_nan=False)) == result


@pytest.mark.parametrize(
    ("which", "content", "problem"),
    [
        ("gt", None, "no such file"),
        ("gt", "{not json", "not valid JSON"),
        ("gt", "[]", "JSON object"),
        ("dt", '{"a": 1}', "list of detections"),
        ("dt", "[]", None),  # no detections at all is a valid (if poor) result
        ("dt", '[{"image_id": 12345, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]', "not in the ground truth"),
        ("dt", '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5], "score": 0.5}]', "bbox"),
        ("dt", '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}]', "lacks score"),
    ],
)
def test_bad_files_name_the_file(tmp_path, shapes, which, content, problem):
    gt_path, dt_path = shapes
    bad = tmp_path / f"{which}.json"
    if content is not None:
        bad.write_text(content)
    args = (bad, dt_path) if which == "gt" else (gt_path, bad)
    if problem is None:
        assert score_coco_files(*args)["stats"][0] == 0.0
        return
    with pytest.raises(InputFileError) as info:
        score_coco_files(*args)
    assert info.value.path == str(bad)
    assert problem in info.value.problem
