"""Our exports read back by the tools that consume them: pycocotools, py-motmetrics, CVAT's XML as CVAT writes it,
and Label Studio's import format. Counts, ids and coordinates are compared with the source."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from helpers import MATERIAL

from vision_assets.core.labels import read_annotations, write_annotations

COCO_GT = MATERIAL / "coco" / "shapes" / "gt_dataset.json"
COCO_DT = MATERIAL / "coco" / "shapes" / "dt_dataset.json"
CVAT_VIDEO = MATERIAL / "cvat" / "for_video_annotations.xml"
TUD_GT = MATERIAL / "mot" / "TUD-Campus" / "gt.txt"
COCO_STATS = [0.6947194719471946, 0.6947194719471946, 0.6947194719471946, -1.0, 0.7920792079207921, 0.0,
              0.6666666666666666, 0.75, 0.75, -1.0, 0.7916666666666666, 0.0]


# ---------------------------------------------------------------- COCO written from COCO

def _coco_eval(gt_path, dt_path) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO(str(gt_path))
    evaluation = COCOeval(gt, gt.loadRes(str(dt_path)), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return list(evaluation.stats)


def test_coco_from_coco_keeps_ids_and_polygons(tmp_path):
    from pycocotools.coco import COCO

    written = write_annotations(read_annotations(COCO_GT), "coco", tmp_path / "gt.json", image_size=(256, 256))
    source, ours = COCO(str(COCO_GT)), COCO(str(written))
    assert sorted(ours.getImgIds()) == sorted(source.getImgIds())
    assert {i: ours.imgs[i]["file_name"] for i in ours.imgs} == {i: source.imgs[i]["file_name"] for i in source.imgs}
    assert {c["id"]: c["name"] for c in ours.loadCats(ours.getCatIds())} == {
        c["id"]: c["name"] for c in source.loadCats(source.getCatIds())}
    assert sorted(ours.getAnnIds()) == sorted(source.getAnnIds()) and len(ours.anns) == 9
    for ann_id, theirs in source.anns.items():
        mine = ours.anns[ann_id]
        assert (mine["image_id"], mine["category_id"]) == (theirs["image_id"], theirs["category_id"])
        np.testing.assert_allclose(mine["bbox"], theirs["bbox"], rtol=0, atol=1e-9)
        assert mine["segmentation"] == theirs["segmentation"] and mine["segmentation"]
        np.testing.assert_array_equal(ours.annToMask(mine), source.annToMask(theirs))
    # A results file keyed to the source's ids scores what it scores against the source.
    assert _coco_eval(written, COCO_DT) == pytest.approx(COCO_STATS, abs=1e-9)


def test_coco_from_another_format_numbers_from_one(tmp_path):
    from pycocotools.coco import COCO

    rows = read_annotations(TUD_GT).head(20).assign(video_sha256="v" * 64)
    coco = COCO(str(write_annotations(rows, "coco", tmp_path / "c.json", image_size=(640, 480))))
    assert sorted(coco.getAnnIds()) == list(range(1, 21))
    assert coco.getCatIds() == [1] and sorted(coco.getImgIds()) == list(range(1, rows["frame_index"].nunique() + 1))


# ---------------------------------------------------------------- MOT written from untracked boxes

def _untracked() -> pd.DataFrame:
    rows = read_annotations(TUD_GT)
    return rows[rows["frame_index"] < 5].assign(track_id=-1, video_sha256="v" * 64)


def test_mot_refuses_untracked_boxes_by_default(tmp_path):
    with pytest.raises(ValueError, match=r"MOT: \d+ of \d+ rows have no track id .*untracked='number'"):
        write_annotations(_untracked(), "mot", tmp_path / "gt.txt")


def test_mot_numbered_detections_are_distinct_objects_to_motmetrics(tmp_path):
    from vision_assets.core.evaluation.tracking import _motmetrics

    mm = _motmetrics()  # with the numpy 2 shim motmetrics 1.4.0 needs

    rows = _untracked()
    path = write_annotations(rows, "mot", tmp_path / "gt.txt", untracked="number")
    gt = mm.io.loadtxt(str(path), fmt="mot15-2D")
    assert len(gt) == len(rows) and gt.index.get_level_values("Id").nunique() == len(rows)
    assert gt.index.get_level_values("Id").min() == 1
    accumulator = mm.utils.compare_to_groundtruth(gt, gt, "iou", distth=0.5)
    summary = mm.metrics.create().compute(accumulator, metrics=["num_unique_objects", "mota", "num_switches"])
    assert summary.iloc[0].to_dict() == {"num_unique_objects": len(rows), "mota": 1.0, "num_switches": 0}
    boxes = gt.reset_index().sort_values(["FrameId", "X", "Y"])[["X", "Y", "Width", "Height"]].to_numpy()
    source = rows.assign(w=rows.x2 - rows.x1, h=rows.y2 - rows.y1).sort_values(["frame_index", "x1", "y1"])
    # motmetrics' loader takes MOT's X, Y as 1-based and shifts them by one; the rest is as written.
    np.testing.assert_allclose(boxes + [1, 1, 0, 0], source[["x1", "y1", "w", "h"]].to_numpy(), rtol=0, atol=1e-9)


# ---------------------------------------------------------------- CVAT for video written from CVAT for video

def test_cvat_video_from_cvat_video_keeps_frame_range_points_and_polylines(tmp_path):
    before = read_annotations(CVAT_VIDEO)
    written = write_annotations(before.assign(video_sha256="v" * 64), "cvat_video", tmp_path / "out.xml",
                                image_size=(25, 20))
    root, source = ET.parse(written).getroot(), ET.parse(CVAT_VIDEO).getroot()
    for key in ("start_frame", "stop_frame", "frame_filter"):
        assert root.findtext(f"meta/task/{key}") == source.findtext(f"meta/task/{key}"), key
    assert (root.findtext("meta/task/start_frame"), root.findtext("meta/task/frame_filter")) == ("10", "step=3")

    def shapes(tree, tag):
        return sorted((t.get("id"), t.get("label"), s.get("frame"), s.get("outside"), s.get("points"))
                      for t in tree.findall("track") for s in t.findall(tag))

    assert shapes(root, "points") == shapes(source, "points") and len(shapes(source, "points")) == 2
    assert shapes(root, "polyline") == shapes(source, "polyline") and len(shapes(source, "polyline")) == 2
    after = read_annotations(written)
    cols = ["frame_index", "class_name", "track_id", "x1", "y1", "x2", "y2", "occluded"]
    pd.testing.assert_frame_equal(after[cols], before[cols])
    assert len(after) > 0 and set(after["frame_index"]) <= set(range(10, 20, 3))
    # ... and it reads again as CVAT writes it: the same again.
    again = write_annotations(after.assign(video_sha256="v" * 64), "cvat_video", tmp_path / "again.xml",
                              image_size=(25, 20))
    assert again.read_bytes() == written.read_bytes()


# ---------------------------------------------------------------- Label Studio import files

def test_label_studio_import_names_annotators_where_label_studio_keeps_them(tmp_path):
    rows = read_annotations(TUD_GT)
    rows = rows[rows["frame_index"] < 4].assign(video_sha256="v" * 64)
    rows["annotator"] = np.where(rows["track_id"] % 2 == 0, "olga@example.com", "ivan")
    url = "/data/local-files/?d=blobs/videos/ab/abc.mp4"
    path = write_annotations(rows, "label_studio", tmp_path / "ls.json", image_size=(640, 480),
                             video_urls={"v" * 64: url}, frames_count={"v" * 64: 71}, fps={"v" * 64: 25.0})
    tasks = json.loads(path.read_text())
    assert len(tasks) == 1 and tasks[0]["data"] == {"video": url}
    annotations = tasks[0]["annotations"]
    # Label Studio refuses a completed_by that is not one of its users (HTTP 400): none is written.
    assert all("completed_by" not in a for a in annotations)
    named = {r["meta"]["text"][0] for a in annotations for r in a["result"]}
    assert named == {"annotator: ivan", "annotator: olga@example.com"}
    for result in (r for a in annotations for r in a["result"]):
        assert result["type"] == "videorectangle" and result["value"]["framesCount"] == 71
        assert result["value"]["duration"] == pytest.approx(71 / 25)
        assert all(k["time"] == pytest.approx((k["frame"] - 1) / 25) for k in result["value"]["sequence"])
        assert result["original_width"] == 640 and result["original_height"] == 480
    after = read_annotations(path)
    by_track = after.groupby("track_id")["annotator"].first().to_dict()
    assert by_track == rows.groupby("track_id")["annotator"].first().to_dict()
    source = rows.sort_values(["frame_index", "track_id"])
    mine = after[after["frame_index"] < 4].sort_values(["frame_index", "track_id"])
    np.testing.assert_allclose(mine[["x1", "y1", "x2", "y2"]].to_numpy(), source[["x1", "y1", "x2", "y2"]].to_numpy(),
                               rtol=0, atol=1e-6)
