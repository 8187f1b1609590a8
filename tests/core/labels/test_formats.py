"""Every annotation format: importers on real and hand-written files, detection, exporters' round trips, errors."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import MATERIAL

from vision_assets.core.labels import (
    ANNOTATION_COLUMNS,
    ANNOTATION_DEFAULTS,
    ANNOTATION_DTYPES,
    FORMATS,
    AnnotationFormatError,
    detect_format,
    label_version,
    read_annotations,
    write_annotations,
)
from vision_assets.core.labels.formats.label_studio import track_id_for

BOX = ["x1", "y1", "x2", "y2"]
TUD_GT = MATERIAL / "mot" / "TUD-Campus" / "gt.txt"
TUD_SIZE = (640, 480)
COCO_GT = MATERIAL / "coco" / "shapes" / "gt_dataset.json"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def box_of(df: pd.DataFrame, **where) -> list[float]:
    mask = np.logical_and.reduce([df[k] == v for k, v in where.items()])
    assert mask.sum() == 1, where
    return df.loc[mask, BOX].iloc[0].tolist()


# ---------------------------------------------------------------- COCO


def test_coco_shapes_real_file():
    df = read_annotations(COCO_GT)
    assert list(df.columns) == ANNOTATION_COLUMNS
    assert len(df) == 9 and df["class_name"].nunique() == 4
    assert set(df["source_format"]) == {"coco"} and set(df["source_file"]) == {"gt_dataset.json"}
    # Image id 1 is img_3.jpg: its three annotations (ids 1-3) sit on frame 3, named after that file.
    first_image = df[df["source_id"].isin(["1", "2", "3"])]
    assert set(first_image["image_name"]) == {"img_3.jpg"} and set(first_image["frame_index"]) == {3}
    assert dict(zip(df["image_name"], df["frame_index"])) == {"img_1.jpg": 1, "img_2.jpg": 2, "img_3.jpg": 3}
    ann1 = df[df["source_id"] == "1"].iloc[0]
    assert ann1[BOX].tolist() == [22.0, 24.0, 131.0, 135.0]  # bbox [22, 24, 109, 111]
    assert (ann1.class_name, ann1.class_id, ann1.declared_area, ann1.track_id) == ("cloud", 1, 8036.0, -1)
    source = next(a for a in json.loads(COCO_GT.read_text())["annotations"] if a["id"] == 1)
    # The image id and the polygon are kept, so COCO written from this is the same dataset.
    assert json.loads(ann1.attributes) == {"iscrowd": 0, "segmentation": "polygon", "coco_image_id": 1,
                                           "coco_segmentation": source["segmentation"]}


def test_coco_matches_pycocotools():
    from pycocotools.coco import COCO

    coco = COCO(str(COCO_GT))
    df = read_annotations(COCO_GT).set_index("source_id")
    for ann in coco.loadAnns(coco.getAnnIds()):
        row = df.loc[str(ann["id"])]
        x, y, w, h = ann["bbox"]
        assert row[BOX].tolist() == [x, y, x + w, y + h]
        assert row.declared_area == ann["area"]
        assert row.image_name == coco.loadImgs(ann["image_id"])[0]["file_name"]
        assert row.class_name == coco.loadCats(ann["category_id"])[0]["name"]


def test_coco_explicit_frame_video_and_track_fields(tmp_path):
    data = {
        "images": [{"id": 5, "file_name": "shot_9.jpg", "frame_index": 40, "video": "cam1.mp4"},
                   {"id": 6, "file_name": "shot.jpg", "frame_id": 41},
                   {"id": 7, "file_name": "noname.jpg"}],
        "categories": [{"id": 3, "name": "car"}],
        "annotations": [
            {"id": 10, "image_id": 5, "category_id": 3, "bbox": [1, 2, 3, 4], "track_id": 4},
            {"id": 11, "image_id": 6, "category_id": 3, "bbox": [1, 2, 3, 4], "iscrowd": 1,
             "attributes": {"occluded": True, "track_id": 2, "keyframe": True}},
            {"id": 12, "image_id": 7, "category_id": 9, "bbox": [0, 0, 1, 1]},
        ],
    }
    df = read_annotations(write(tmp_path / "video.json", json.dumps(data))).set_index("source_id")
    assert df.loc["10", ["frame_index", "track_id"]].tolist() == [40, 4]  # explicit field beats the name's digits
    assert json.loads(df.loc["10", "attributes"]) == {"iscrowd": 0, "video": "cam1.mp4", "coco_image_id": 5}
    assert df.loc["11", ["frame_index", "track_id", "occluded"]].tolist() == [41, 2, True]
    assert json.loads(df.loc["11", "attributes"]) == {"iscrowd": 1, "keyframe": True, "coco_image_id": 6}
    assert df.loc["12", "frame_index"] == 7  # no frame field, no digits: the image id
    assert (df.loc["12", "class_name"], df.loc["12", "class_id"]) == ("", 9)  # unknown category kept for QC
    assert np.isnan(df.loc["12", "declared_area"])


# ---------------------------------------------------------------- YOLO


def make_yolo(root: Path, yaml_text: str, with_images: bool = True) -> Path:
    """train split of two frames (64x48 images), val split of one frame (32x32)."""
    write(root / "data.yaml", yaml_text)
    write(root / "labels" / "train" / "cam1_000003.txt", "0 0.5 0.5 0.25 0.5\n\n1 0.25 0.25 0.1 0.1\n")
    write(root / "labels" / "train" / "cam1_000004.txt", "2 0.5 0.5 0.5 0.5\n")  # class 2: off by one
    write(root / "labels" / "val" / "cam1_000010.txt", "1 0.5 0.5 1 1 0.9\n")
    if with_images:
        for split, stem, (w, h) in [("train", "cam1_000003", (64, 48)), ("train", "cam1_000004", (64, 48)),
                                    ("val", "cam1_000010", (32, 32))]:
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "images" / split / f"{stem}.png"), np.zeros((h, w, 3), np.uint8))
    return root


RELATIVE_YAML = "path: .\ntrain: images/train\nval: images/val\nnames: [car, person]\n"


def test_yolo_folder_with_data_yaml(tmp_path):
    root = make_yolo(tmp_path / "cam1", RELATIVE_YAML)
    df = read_annotations(root)
    assert list(df.columns) == ANNOTATION_COLUMNS
    assert list(df["frame_index"]) == [3, 3, 4, 10]
    assert list(df["class_name"]) == ["car", "person", "", "person"]
    assert list(df["class_id"]) == [0, 1, 2, 1]  # the out-of-range id stays a row for QC to judge
    assert box_of(df, source_id="labels/train/cam1_000003.txt:1") == [24.0, 12.0, 40.0, 36.0]  # 64x48 image
    assert box_of(df, source_id="labels/train/cam1_000003.txt:3") == pytest.approx([12.8, 9.6, 19.2, 14.4])
    assert box_of(df, frame_index=10) == [0.0, 0.0, 32.0, 32.0]  # its own 32x32 image
    assert json.loads(df[df.frame_index == 10].iloc[0].attributes) == {"confidence": 0.9}
    assert list(df["image_name"]) == ["cam1_000003.png", "cam1_000003.png", "cam1_000004.png", "cam1_000010.png"]
    assert set(df["source_file"]) == {"cam1/labels/train/cam1_000003.txt", "cam1/labels/train/cam1_000004.txt",
                                      "cam1/labels/val/cam1_000010.txt"}
    assert set(df["track_id"]) == {-1} and set(df["source_format"]) == {"yolo"} and set(df["file_findings"]) == {""}
    assert read_annotations(root / "data.yaml").equals(df)


def test_yolo_absolute_paths_are_a_finding_and_rerooted(tmp_path):
    text = ("path: /home/labeller/datasets/cam1\ntrain: /home/labeller/datasets/cam1/images/train\n"
            "val: C:\\data\\cam1\\images\\val\nnames: {0: car, 1: person}\n")
    df = read_annotations(make_yolo(tmp_path / "cam1", text))
    assert len(df) == 4  # both splits found under this folder by their trailing parts
    assert set(df["file_findings"]) == {"absolute_path_in_data_yaml"}
    assert list(df["class_name"]) == ["car", "person", "", "person"]


def test_yolo_image_size_argument_and_missing_images(tmp_path):
    root = make_yolo(tmp_path / "cam1", RELATIVE_YAML, with_images=False)
    with pytest.raises(AnnotationFormatError, match=r"cam1_00000\d\.txt: no readable image.*image_size"):
        read_annotations(root)
    df = read_annotations(root, image_size=(100, 200))
    assert box_of(df, source_id="labels/train/cam1_000003.txt:1") == [37.5, 50.0, 62.5, 150.0]
    assert set(df["image_name"]) == {""}


def test_yolo_single_txt_names_file_and_polygon(tmp_path):
    txt = write(tmp_path / "drop" / "frame_12.txt", "1 0.1 0.2 0.5 0.2 0.3 0.6\n")
    df = read_annotations(txt, image_size=(10, 10))
    assert detect_format(txt) == "yolo"
    assert (df.iloc[0].class_name, df.iloc[0].file_findings) == ("", "no_class_names")
    write(tmp_path / "drop" / "classes.txt", "car\nbike\n")
    row = read_annotations(txt, image_size=(10, 10)).iloc[0]
    assert (row.frame_index, row.class_name, row.file_findings) == (12, "bike", "")
    assert row[BOX].tolist() == pytest.approx([1.0, 2.0, 5.0, 6.0])  # polygon -> its bounding box
    assert json.loads(row.attributes) == {"polygon": True}


# ---------------------------------------------------------------- CVAT for images

CVAT_IMAGES = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><mode>annotation</mode><owner><username>olga</username></owner></task></meta>
  <image id="0" name="cam1_000120.jpg" width="640" height="480">
    <box label="car" occluded="1" xtl="10.5" ytl="20" xbr="110" ybr="80.25" z_order="0">
      <attribute name="color">red</attribute>
    </box>
    <polygon label="car" occluded="0" points="1,1;5,1;5,5" z_order="0"/>
    <box label="person" occluded="0" xtl="1" ytl="2" xbr="3" ybr="4" z_order="1"/>
  </image>
  <image id="7" name="snapshot.png" width="640" height="480">
    <box label="person" occluded="0" xtl="5" ytl="6" xbr="7" ybr="8" z_order="0"/>
  </image>
  <image id="8" name="cam1_000009.jpg" width="640" height="480"/>
</annotations>
"""


def test_cvat_images(tmp_path):
    df = read_annotations(write(tmp_path / "task.xml", CVAT_IMAGES))
    assert list(df.columns) == ANNOTATION_COLUMNS
    assert list(df["frame_index"]) == [7, 120, 120]  # name digits, else the image id; sorted by frame
    assert list(df["source_id"]) == ["image7:box0", "image0:box0", "image0:box1"]
    car = df[df.class_name == "car"].iloc[0]
    assert car[BOX].tolist() == [10.5, 20.0, 110.0, 80.25]
    assert (car.occluded, json.loads(car.attributes), car.image_name) == (True, {"color": "red"}, "cam1_000120.jpg")
    assert set(df["annotator"]) == {"olga"} and set(df["track_id"]) == {-1} and set(df["class_id"]) == {-1}


# ---------------------------------------------------------------- Label Studio video


def ls_result(result_id, sequence, labels=("car",), size=(200, 100), frames_count=10):
    result = {"id": result_id, "type": "videorectangle", "from_name": "box", "to_name": "video",
              "value": {"framesCount": frames_count, "labels": list(labels), "sequence": sequence}}
    if size:
        result["original_width"], result["original_height"] = size
    return result


def key(frame, x, y, w, h, enabled=True):
    return {"frame": frame, "enabled": enabled, "rotation": 0, "x": x, "y": y, "width": w, "height": h,
            "time": (frame - 1) / 25}


LS_TASKS = [{
    "id": 1,
    "data": {"video": "/data/upload/1/cam1.mp4"},
    "annotations": [
        {"id": 5, "completed_by": {"id": 1, "email": "ann@example.com"}, "was_cancelled": False, "result": [
            ls_result("aB3xY9", [key(1, 10, 20, 30, 40), key(5, 30, 20, 30, 20, enabled=False),
                                 key(8, 50, 50, 10, 10)]),
            {"id": "t1", "type": "labels", "from_name": "videoLabels", "to_name": "video",
             "value": {"start": 1, "end": 2, "labels": ["ignored"]}},
        ]},
        {"id": 6, "completed_by": 2, "was_cancelled": True, "result": [ls_result("zz", [key(1, 0, 0, 1, 1)])]},
    ],
    "predictions": [{"result": [ls_result("pred", [key(1, 0, 0, 1, 1)])]}],
}]


def test_label_studio_interpolation_against_hand_computed_boxes(tmp_path):
    df = read_annotations(write(tmp_path / "cam1.json", json.dumps(LS_TASKS)))
    assert list(df.columns) == ANNOTATION_COLUMNS
    # Keyframe 1 enabled -> 1..5 interpolated; keyframe 5 disabled ends the span; keyframe 8 holds to framesCount 10.
    assert list(df["frame_index"]) == [0, 1, 2, 3, 4, 7, 8, 9]
    # LS frame 2 (t = 1/4): x 15%, y 20%, w 30%, h 35% of 200x100.
    assert box_of(df, frame_index=1) == pytest.approx([30.0, 20.0, 90.0, 55.0])
    # LS frame 3 (t = 1/2): x 20%, y 20%, w 30%, h 30%.
    assert box_of(df, frame_index=2) == pytest.approx([40.0, 20.0, 100.0, 50.0])
    assert box_of(df, frame_index=4) == pytest.approx([60.0, 20.0, 120.0, 40.0])
    assert box_of(df, frame_index=9) == pytest.approx([100.0, 50.0, 120.0, 60.0])
    row = df[df.frame_index == 2].iloc[0]
    assert (row.class_name, row.source_id, row.annotator) == ("car", "aB3xY9:3", "ann@example.com")
    assert row.track_id == track_id_for("aB3xY9") >= 0 and df["track_id"].nunique() == 1
    assert json.loads(row.attributes) == {"video": "/data/upload/1/cam1.mp4"}
    assert set(df["source_format"]) == {"label_studio"}  # cancelled annotations and predictions are not labels


def test_label_studio_track_ids_and_frame_size(tmp_path):
    assert track_id_for("17") == 17 and track_id_for("untracked-3") == -1
    assert track_id_for("Ktx6MEKaEa") == track_id_for("Ktx6MEKaEa") != track_id_for("Ktx6MEKaEb")
    tasks = [{"data": {"video": "v.mp4"}, "annotations": [
        {"completed_by": 3, "result": [ls_result("17", [key(2, 10, 10, 10, 10, enabled=False)], size=None)]}]}]
    path = write(tmp_path / "nosize.json", json.dumps(tasks))
    with pytest.raises(AnnotationFormatError, match=r"nosize\.json: result '17'.*image_size"):
        read_annotations(path)
    row = read_annotations(path, image_size=(50, 20)).iloc[0]
    assert (row.frame_index, row.track_id, row.annotator) == (1, 17, "3")
    assert row[BOX].tolist() == pytest.approx([5.0, 2.0, 10.0, 4.0])


# ---------------------------------------------------------------- detection


def test_every_format_is_detected_from_content(tmp_path):
    yolo = make_yolo(tmp_path / "yolo", RELATIVE_YAML)
    files = {
        "coco": COCO_GT,
        "mot": TUD_GT,
        "cvat_video": MATERIAL / "cvat" / "for_video_annotations.xml",
        "cvat_images": write(tmp_path / "images.labels", CVAT_IMAGES),
        "label_studio": write(tmp_path / "ls.data", json.dumps(LS_TASKS)),
    }
    for fmt, path in files.items():
        assert detect_format(path) == fmt, path
    assert detect_format(yolo) == detect_format(yolo / "data.yaml") == "yolo"
    assert detect_format(yolo / "labels" / "train" / "cam1_000003.txt") == "yolo"
    single_task = write(tmp_path / "task.json", json.dumps(LS_TASKS[0]))
    assert detect_format(single_task) == "label_studio" and len(read_annotations(single_task)) == 8
    empty_cvat = write(tmp_path / "empty.xml", "<annotations><meta><task><mode>annotation</mode></task></meta>"
                                                "</annotations>")
    assert detect_format(empty_cvat) == "cvat_images" and len(read_annotations(empty_cvat)) == 0


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("broken.json", '{"images": [', "not valid JSON"),
        ("results.json", MATERIAL / "coco" / "shapes" / "dt_dataset.json", "COCO results"),  # read when run
        ("nobbox.json", json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [],
                                    "annotations": [{"id": 4, "image_id": 1, "category_id": 1}]}), "annotation 4: bbox"),
        ("orphan.json", json.dumps({"images": [], "annotations": [{"id": 4, "image_id": 9, "bbox": [0, 0, 1, 1]}]}),
         "image_id 9"),
        ("ls.json", json.dumps([{"data": {}, "annotations": [{"result": [ls_result("r", [{"frame": 1}])]}]}]),
         "result 'r': sequence"),
        ("other.json", json.dumps({"hello": 1}), "neither a COCO dataset"),
        ("voc.xml", "<annotation><object/></annotation>", "not a CVAT"),
        ("cut.xml", "<annotations><image id='0'", "not well-formed"),
        ("badbox.xml", "<annotations><image id='0' name='a'><box label='c' xtl='x' ytl='0' xbr='1' ybr='1'/></image>"
                       "</annotations>", "image 0 box 0"),
        ("frame_1.txt", "0 0.5 0.5 abc 0.2\n", None),
        ("labels.txt", "0 0.5 0.5 0.2\n", None),
    ],
)
def test_malformed_input_names_the_file(tmp_path, name, content, problem):
    path = write(tmp_path / name, content.read_text() if isinstance(content, Path) else content)
    with pytest.raises(AnnotationFormatError, match=re.escape(name)) as err:
        read_annotations(path, fmt="yolo" if name.endswith(".txt") else None, image_size=(10, 10))
    assert problem is None or problem in str(err.value)


def test_malformed_yolo_line_and_yaml(tmp_path):
    root = make_yolo(tmp_path / "cam1", RELATIVE_YAML)
    write(root / "labels" / "val" / "cam1_000010.txt", "1 0.5 0.5 1 1\n1 0.5 nan? 1\n")
    with pytest.raises(AnnotationFormatError, match=r"cam1_000010\.txt: line 2"):
        read_annotations(root)
    write(root / "data.yaml", "names: [car, person\n")
    with pytest.raises(AnnotationFormatError, match=r"data\.yaml: not a readable YAML"):
        read_annotations(root)


# ---------------------------------------------------------------- exporters and round trips


def crafted() -> pd.DataFrame:
    """Two tracks (one with a gap) and two boxes without a track, on one 320x240 video."""
    rows = [(0, "car", 10.25, 20.5, 60.75, 50.0, 3, False), (1, "car", 12.0, 21.0, 62.0, 51.0, 3, True),
            (2, "car", 14.0, 22.0, 64.0, 52.0, 3, False), (5, "car", 30.0, 30.0, 90.0, 70.0, 3, False),
            (6, "car", 31.5, 30.0, 91.5, 70.0, 3, False), (1, "pedestrian", 200.0, 100.0, 220.0, 160.0, 8, False),
            (2, "pedestrian", 201.0, 101.0, 221.0, 161.0, 8, False), (3, "pedestrian", 202.0, 102.0, 222.0, 162.0, 8, False),
            (2, "bicycle", 100.0, 150.0, 130.0, 200.0, -1, False), (5, "car", 0.0, 0.0, 319.0, 239.0, -1, False)]
    df = pd.DataFrame(rows, columns=["frame_index", "class_name", *BOX, "track_id", "occluded"])
    return df.assign(video_sha256="v" * 64, attributes="{}", annotator="", source_file="crafted",
                     source_id=[f"r{i}" for i in range(len(df))])


CLASSES = ["car", "pedestrian", "bicycle"]
EXPORT_OPTIONS = {
    "coco": {"class_names": CLASSES},
    "yolo": {"class_names": CLASSES},
    "cvat_video": {"class_names": CLASSES},
    "cvat_images": {"class_names": CLASSES},
    "mot": {"untracked": "number"},
    "label_studio": {},
}
DEST = {"yolo": "yolo_out", "coco": "out.json", "label_studio": "ls.json", "mot": "gt.txt"}


def round_trip(df: pd.DataFrame, fmt: str, tmp_path: Path, size: tuple[int, int]) -> pd.DataFrame:
    dest = tmp_path / DEST.get(fmt, f"{fmt}.xml")
    options = dict(EXPORT_OPTIONS[fmt])
    if fmt in ("yolo", "label_studio", "coco", "cvat_images"):
        options["image_size"] = size
    written = write_annotations(df, fmt, dest, **options)
    assert detect_format(written) == fmt  # what we write, we recognise
    # YOLO's exported folder has no frame images yet: the video's frame size converts its boxes.
    return read_annotations(written, image_size=size if fmt == "yolo" else None)


def assert_same_boxes(before: pd.DataFrame, after: pd.DataFrame, tol: float, tracks: bool = True) -> None:
    keys = ["frame_index", "class_name", "track_id"] if tracks else ["frame_index", "class_name"]

    def ordered(df):
        return df.assign(_x=df["x1"].round(1), _y=df["y1"].round(1)).sort_values([*keys, "_x", "_y"]).reset_index()

    a, b = ordered(before), ordered(after)
    assert len(a) == len(b)
    assert a[keys].equals(b[keys])
    np.testing.assert_allclose(b[BOX].to_numpy(), a[BOX].to_numpy(), rtol=0, atol=tol)


@pytest.mark.parametrize("fmt", FORMATS)
def test_crafted_table_round_trips(tmp_path, fmt):
    before = crafted()
    after = round_trip(before, fmt, tmp_path, (320, 240))
    if fmt == "mot":  # MOT ids are objects: each untracked box got its own id after the real ones (3, 8)
        before = before.assign(track_id=before["track_id"].replace(-1, pd.NA).fillna(
            pd.Series([9, 10], index=before.index[before["track_id"] < 0])).astype(int))
    assert_same_boxes(before, after, tol=0.01 if fmt == "yolo" else 1e-6, tracks=fmt != "yolo")
    if fmt in ("coco", "cvat_video", "cvat_images"):
        assert after.loc[after.occluded, "frame_index"].tolist() == [1]


@pytest.mark.parametrize("fmt", FORMATS)
def test_tud_campus_round_trips_through_every_exporter(tmp_path, fmt):
    before = read_annotations(TUD_GT)
    after = round_trip(before, fmt, tmp_path, TUD_SIZE)
    assert len(after) == 359 and after["frame_index"].nunique() == 71
    assert after["track_id"].nunique() == (1 if fmt == "yolo" else 8)
    assert_same_boxes(before, after, tol=0.01 if fmt == "yolo" else 1e-6, tracks=fmt != "yolo")


def test_written_files_are_what_the_tools_expect(tmp_path):
    from pycocotools.coco import COCO

    df = crafted()
    coco = COCO(str(write_annotations(df, "coco", tmp_path / "c.json", class_names=CLASSES, image_size=(320, 240))))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == CLASSES
    assert coco.loadImgs(1)[0] == {"id": 1, "file_name": "frame_000000.jpg", "frame_index": 0, "video": "v" * 64,
                                   "width": 320, "height": 240}
    assert coco.loadAnns(1)[0]["area"] == pytest.approx((60.75 - 10.25) * (50.0 - 20.5))

    yolo = write_annotations(df, "yolo", tmp_path / "y", class_names=CLASSES, image_size=(320, 240))
    config = yaml.safe_load((yolo / "data.yaml").read_text())
    assert config == {"train": "images", "val": "images", "nc": 3, "names": {0: "car", 1: "pedestrian", 2: "bicycle"}}
    frame2 = (yolo / "labels" / "frame_000002.txt").read_text().splitlines()
    assert [line.split()[0] for line in frame2] == ["2", "0", "1"]  # bicycle (no track), car (3), pedestrian (8)

    tasks = json.loads(write_annotations(df, "label_studio", tmp_path / "ls.json", image_size=(320, 240),
                                         video_urls={"v" * 64: "s3://bucket/cam1.mp4"}, as_predictions=True).read_text())
    assert tasks[0]["data"] == {"video": "s3://bucket/cam1.mp4"} and "annotations" not in tasks[0]
    car = next(r for r in tasks[0]["predictions"][0]["result"] if r["id"] == "3")
    assert [k["enabled"] for k in car["value"]["sequence"]] == [True, True, False, True, False]  # gap after frame 3


def test_cvat_video_outside_keyframes(tmp_path):
    df = crafted()
    root = ET.parse(write_annotations(df, "cvat_video", tmp_path / "t.xml", frames_count=7)).getroot()
    assert root.findtext("meta/task/stop_frame") == "6"
    car = root.find("track[@id='3']")
    assert [(b.get("frame"), b.get("outside")) for b in car.findall("box")] == [
        ("0", "0"), ("1", "0"), ("2", "0"), ("3", "1"), ("5", "0"), ("6", "0")]  # no outside past the last frame
    untracked = root.findall("track[@untracked='1']")
    assert [(t.get("id"), t.get("label"), len(t.findall("box"))) for t in untracked] == [("9", "bicycle", 2),
                                                                                      ("10", "car", 2)]
    longer = ET.parse(write_annotations(df, "cvat_video", tmp_path / "u.xml", frames_count=100)).getroot()
    assert [b.get("frame") for b in longer.find("track[@id='3']").findall("box")][-1] == "7"
    assert_same_boxes(df, read_annotations(tmp_path / "u.xml"), tol=1e-6)


def test_same_table_in_any_order_writes_the_same_bytes(tmp_path):
    df = crafted()
    for fmt in FORMATS:
        options = {**EXPORT_OPTIONS[fmt], **({"image_size": (320, 240)} if fmt in ("yolo", "label_studio") else {})}
        a = write_annotations(df, fmt, tmp_path / f"a_{DEST.get(fmt, fmt + '.xml')}", **options)
        b = write_annotations(df.sample(frac=1, random_state=1), fmt, tmp_path / f"b_{DEST.get(fmt, fmt + '.xml')}",
                              **options)
        if fmt == "yolo":
            assert [p.read_bytes() for p in sorted(a.rglob("*.txt"))] == [p.read_bytes() for p in sorted(b.rglob("*.txt"))]
        else:
            assert a.read_bytes() == b.read_bytes(), fmt


def test_writers_refuse_what_a_format_cannot_hold(tmp_path):
    df = crafted()
    two_videos = pd.concat([df, df.assign(video_sha256="w" * 64)])
    for fmt in ("yolo", "cvat_video", "cvat_images", "mot"):
        with pytest.raises(ValueError, match="one video per file"):
            write_annotations(two_videos, fmt, tmp_path / "x", image_size=(320, 240))
    with pytest.raises(ValueError, match=r"missing from class_names: \['pedestrian'\]"):
        write_annotations(df, "coco", tmp_path / "c.json", class_names=["car", "bicycle"])
    with pytest.raises(ValueError, match="outside the MOT class list"):
        write_annotations(df.assign(class_name="truck"), "mot", tmp_path / "gt.txt")
    with pytest.raises(ValueError, match="image_size"):
        write_annotations(df, "label_studio", tmp_path / "ls.json")
    with pytest.raises(ValueError, match="track 3 has several"):
        write_annotations(df.assign(frame_index=0), "cvat_video", tmp_path / "t.xml")
    with pytest.raises(ValueError, match="unknown annotation format"):
        write_annotations(df, "voc", tmp_path / "v.xml")
    # Several videos in one COCO or Label Studio file are fine: one image per (video, frame), one task per video.
    assert len(read_annotations(write_annotations(two_videos, "coco", tmp_path / "two.json"))) == 2 * len(df)


def test_label_version_survives_a_lossless_round_trip_of_boxes(tmp_path):
    before = read_annotations(TUD_GT)
    after = round_trip(before, "mot", tmp_path, TUD_SIZE)
    # Same boxes, but class ids are now written (1 = pedestrian): the version tells the files apart.
    assert label_version(after) != label_version(before)
    assert label_version(after.assign(class_id=-1)) == label_version(before)



@pytest.mark.parametrize("image, annotation", [
    ({"id": 1, "file_name": "x.jpg", "frame_index": 1e30}, {}),
    ({"id": 1, "file_name": "frame_123456789012345678901234.jpg"}, {}),
    ({"id": 1, "file_name": "frame_1.jpg"}, {"track_id": float("inf")}),
])
def test_numbers_no_table_can_hold_are_a_format_error_naming_the_file(tmp_path, image, annotation):
    path = tmp_path / "huge.json"
    path.write_text(json.dumps({"images": [image], "categories": [{"id": 1, "name": "car"}], "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], **annotation}]}))
    with pytest.raises(AnnotationFormatError, match="huge.json"):
        read_annotations(path)


# ---------------------------------------------------------------- what writers keep besides boxes


def table(*rows: dict, **common) -> pd.DataFrame:
    """Canonical rows: a 10x10 car box on frame 0 of video "vid" unless a row says otherwise."""
    base = {**ANNOTATION_DEFAULTS, "video_sha256": "vid", "frame_index": 0, "class_name": "car", "x1": 10.0,
            "y1": 10.0, "x2": 20.0, "y2": 20.0, "source_file": "t", "source_format": "crafted"}
    records = [{**base, **common, **row, "source_id": f"r{i}"} for i, row in enumerate(rows)]
    return pd.DataFrame(records)[ANNOTATION_COLUMNS].astype(ANNOTATION_DTYPES)


def written_and_read(df: pd.DataFrame, fmt: str, tmp_path: Path, **options) -> pd.DataFrame:
    if fmt in ("label_studio", "yolo"):
        options.setdefault("image_size", (100, 100))
    written = write_annotations(df, fmt, tmp_path / DEST.get(fmt, f"{fmt}.xml"), **options)
    return read_annotations(written, fmt).sort_values(["frame_index", "track_id", "x1"]).reset_index(drop=True)


def attrs_of(df: pd.DataFrame) -> list[dict]:
    return [json.loads(a) for a in df["attributes"]]


TRACK_ATTRIBUTES = [{"color": "red", "parked": True}, {}, {"color": "blue", "speed": 1.5, "note": ""},
                    {"flag": "true", "tags": ["a", "b"], "none": None}]


def test_cvat_video_attributes_round_trip_without_carrying_values_forward(tmp_path):
    df = table(*({"track_id": 1, "frame_index": f, "attributes": json.dumps(a)}
                 for f, a in enumerate(TRACK_ATTRIBUTES)))
    after = written_and_read(df, "cvat_video", tmp_path)
    # A row without a value stays without it (CVAT would carry "red" forward), and values keep their JSON type;
    # the text "true" stays text.
    assert attrs_of(after) == TRACK_ATTRIBUTES


def test_cvat_reader_treats_an_empty_value_as_unset_and_plain_text_as_text(tmp_path):
    boxes = "".join(
        f'<box frame="{f}" outside="0" occluded="0" keyframe="1" xtl="0" ytl="0" xbr="5" ybr="5">{a}</box>'
        for f, a in [(0, '<attribute name="color">red</attribute><attribute name="n">2</attribute>'),
                     (1, '<attribute name="color"></attribute>'), (2, "")])
    text = (f"<annotations><meta><task><start_frame>0</start_frame><stop_frame>2</stop_frame></task></meta>"
            f'<track id="0" label="car">{boxes}</track></annotations>')
    df = read_annotations(write(tmp_path / "cvat.xml", text))
    assert attrs_of(df) == [{"color": "red", "n": "2"}, {"n": "2"}, {"n": "2"}]


def test_cvat_images_attribute_types_round_trip(tmp_path):
    df = table(*({"frame_index": f, "attributes": json.dumps(a)} for f, a in enumerate(TRACK_ATTRIBUTES)))
    assert attrs_of(written_and_read(df, "cvat_images", tmp_path)) == TRACK_ATTRIBUTES


def test_cvat_video_refuses_rows_beyond_frames_count(tmp_path):
    df = table(*({"track_id": 1, "frame_index": f} for f in range(6)))
    with pytest.raises(AnnotationFormatError, match=r"2 rows lie at or beyond frames_count=4"):
        write_annotations(df, "cvat_video", tmp_path / "t.xml", frames_count=4)
    with pytest.raises(AnnotationFormatError, match=r"frames_count=0"):
        write_annotations(df, "cvat_video", tmp_path / "t.xml", frames_count=0)
    assert len(written_and_read(df, "cvat_video", tmp_path, frames_count=6)) == 6


@pytest.mark.parametrize("fmt", ["cvat_video", "cvat_images"])
def test_cvat_writers_keep_the_one_annotator_and_refuse_several(tmp_path, fmt):
    df = table({"track_id": 1, "annotator": "olga"}, {"track_id": 1, "frame_index": 1, "annotator": "olga"},
               {"frame_index": 1, "x1": 0.0})
    assert set(written_and_read(df, fmt, tmp_path)["annotator"]) == {"olga"}
    root = ET.parse(tmp_path / f"{fmt}.xml").getroot()
    assert root.findtext("meta/task/assignee/username") == "olga"  # where CVAT's own exports name the labeller
    two = table({"annotator": "olga"}, {"annotator": "ivan", "x1": 0.0})
    with pytest.raises(AnnotationFormatError, match="CVAT files hold one annotator's labels; write one file per "
                                                    "annotator .rows have 2: ivan, olga."):
        write_annotations(two, fmt, tmp_path / "two.xml")


def test_label_studio_writes_one_annotation_per_annotator(tmp_path):
    ann, bob = {"track_id": 1, "annotator": "ann@example.com"}, {"track_id": 1, "annotator": "bob", "x1": 11.0}
    df = table(ann, {**ann, "frame_index": 1}, bob, {**bob, "frame_index": 1}, {"frame_index": 2, "x1": 0.0})
    after = written_and_read(df, "label_studio", tmp_path)
    assert after[["frame_index", "track_id", "annotator", "x1"]].values.tolist() == [
        [0, 1, "ann@example.com", 10.0], [0, 1, "bob", 11.0], [1, 1, "ann@example.com", 10.0], [1, 1, "bob", 11.0],
        [2, -1, "", 0.0]]
    annotations = json.loads((tmp_path / "ls.json").read_text())[0]["annotations"]
    # Label Studio refuses a completed_by that is not one of its users: the name goes into each region's meta.
    assert [a.get("completed_by") for a in annotations] == [None, None, None]
    assert [[r.get("meta") for r in a["result"]] for a in annotations] == [
        [None], [{"text": ["annotator: ann@example.com"]}], [{"text": ["annotator: bob"]}]]


def test_coco_keeps_annotator_and_attributes(tmp_path):
    df = table({"annotator": "olga", "declared_area": 42.5, "occluded": True,
                "attributes": json.dumps({"iscrowd": 1, "score": 0.75, "color": "red", "parts": [1, 2]})},
               {"frame_index": 1, "attributes": json.dumps({"iscrowd": 0})})
    after = written_and_read(df, "coco", tmp_path)
    assert after["annotator"].tolist() == ["olga", ""]
    assert after["declared_area"].tolist() == [42.5, 100.0]  # the declared area, else the box's
    assert after["occluded"].tolist() == [True, False]
    assert attrs_of(after) == [{"iscrowd": 1, "score": 0.75, "color": "red", "parts": [1, 2], "video": "vid",
                                "coco_image_id": 1}, {"iscrowd": 0, "video": "vid", "coco_image_id": 2}]
    first = json.loads((tmp_path / "out.json").read_text())["annotations"][0]
    assert (first["iscrowd"], first["area"], first["score"]) == (1, 42.5, 0.75)
    assert first["attributes"] == {"color": "red", "parts": [1, 2], "occluded": True, "annotator": "olga"}


@pytest.mark.parametrize("fmt", ["label_studio", "mot"])
def test_occluded_rows_read_back_occluded(tmp_path, fmt):
    occluded = [True, True, False, True, False]
    df = table(*({"track_id": 1, "frame_index": f, "occluded": o} for f, o in enumerate(occluded)),
               {"track_id": 2, "occluded": True, "attributes": json.dumps({"visibility": 0.1})})
    after = written_and_read(df, fmt, tmp_path)
    assert after.loc[after.track_id == 1, "occluded"].tolist() == occluded
    assert after.loc[after.track_id == 2, "occluded"].tolist() == [True]
    if fmt == "mot":  # a visibility below the occlusion threshold stands in for the one the row lacks
        assert attrs_of(after[after.track_id == 1]) == [{"visibility": 0.25}, {"visibility": 0.25}, {},
                                                        {"visibility": 0.25}, {}]
        assert attrs_of(after[after.track_id == 2]) == [{"visibility": 0.1}]
