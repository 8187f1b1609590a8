import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import MATERIAL

from vision_assets.core.labels import ANNOTATION_COLUMNS, AnnotationFormatError, label_version, read_annotations


def material() -> Path:
    return MATERIAL


TUD_GT = material() / "mot" / "TUD-Campus" / "gt.txt"
CVAT_REAL = material() / "cvat" / "for_video_annotations.xml"


def assert_canonical(df: pd.DataFrame) -> None:
    assert list(df.columns) == ANNOTATION_COLUMNS
    assert df["frame_index"].dtype == np.int64
    assert df["track_id"].dtype == np.int64
    assert df["occluded"].dtype == bool
    for c in ("x1", "y1", "x2", "y2"):
        assert df[c].dtype == np.float64
    assert list(df.index) == list(range(len(df)))
    assert df[["frame_index", "track_id"]].apply(tuple, axis=1).is_monotonic_increasing


def cvat_xml(boxes: str, *, start=0, stop=20, step: int | None = 1, owner="max", assignee="") -> str:
    filt = "" if step is None else f"step={step}"
    return f"""<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task>
    <start_frame>{start}</start_frame><stop_frame>{stop}</stop_frame>
    <frame_filter>{filt}</frame_filter>
    <owner><username>{owner}</username></owner>
    <assignee>{assignee}</assignee>
  </task></meta>
  <track id="7" label="car">{boxes}</track>
</annotations>
"""


def box(frame, x1, y1, x2, y2, outside=0, occluded=0, attrs=""):
    return (
        f'<box frame="{frame}" outside="{outside}" occluded="{occluded}" keyframe="1" '
        f'xtl="{x1}" ytl="{y1}" xbr="{x2}" ybr="{y2}" z_order="0">{attrs}</box>'
    )


def write(tmp_path: Path, text: str, name="task.xml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ---------------------------------------------------------------- MOT


def test_tud_campus_gt():
    df = read_annotations(TUD_GT)
    assert_canonical(df)
    assert len(df) == 359
    assert df["frame_index"].nunique() == 71
    assert df["track_id"].nunique() == 8
    first = df.iloc[0]
    assert (first.frame_index, first.x1, first.y1, first.x2, first.y2) == (0, 399.0, 182.0, 520.0, 411.0)
    assert first.track_id == 1 and first.source_id == "line1"
    assert set(df["class_name"]) == {"pedestrian"}
    assert set(df["attributes"]) == {"{}"}
    assert not df["occluded"].any()
    assert set(df["source_file"]) == {"gt.txt"}
    assert set(df["video_sha256"]) == {""} and set(df["annotator"]) == {""}
    assert set(df["source_format"]) == {"mot"} and set(df["class_id"]) == {-1}  # TUD has no class column
    assert df["declared_area"].isna().all() and set(df["image_name"]) == {""} and set(df["file_findings"]) == {""}


def test_mot17_columns_ignore_and_visibility(tmp_path):
    p = write(
        tmp_path,
        "2,1,11,20,30,40,0,7,0.25\n\n1,1,10,20,30,40,1,1,0.86667\n2,2,1,2,3,4,1,13,1\n3,-1,1,2,3,4,1,-1,-1\n",
        "gt.txt",
    )
    df = read_annotations(p)
    assert_canonical(df)
    assert list(df["source_id"]) == ["line3", "line1", "line4", "line5"]  # blank line 2 still counts
    assert list(df["frame_index"]) == [0, 1, 1, 2]
    assert list(df["class_name"]) == ["pedestrian", "static_person", "class_13", "pedestrian"]
    assert list(df["class_id"]) == [1, 7, 13, -1]
    assert [json.loads(a) for a in df["attributes"]] == [
        {"visibility": 0.86667},
        {"ignore": True, "visibility": 0.25},
        {"visibility": 1.0},
        {},
    ]
    assert list(df["occluded"]) == [False, True, False, False]
    assert list(df["track_id"]) == [1, 1, 2, -1]
    assert df.loc[0, ["x1", "y1", "x2", "y2"]].tolist() == [10.0, 20.0, 40.0, 60.0]


def test_mot_bad_line_names_file_and_line(tmp_path):
    p = write(tmp_path, "1,1,2,3,4,5,1\n2,x,2,3,4,5,1\n", "gt.txt")
    with pytest.raises(AnnotationFormatError, match=r"gt\.txt: line 2"):
        read_annotations(p)


# ---------------------------------------------------------------- CVAT


def test_real_cvat_file():
    df = read_annotations(CVAT_REAL)
    assert_canonical(df)
    # Track 0: inside at 10, outside at 13 and 16, step=3 -> only frame 10. Tracks 1/2 are points/polyline.
    assert len(df) == 1
    row = df.iloc[0].to_dict()
    assert np.isnan(row.pop("declared_area"))  # NaN never compares equal, so it is checked on its own
    assert row == {
        "video_sha256": "",
        "frame_index": 10,
        "class_name": "II",
        "x1": 3.0,
        "y1": 4.0,
        "x2": 10.0,
        "y2": 5.0,
        "track_id": 0,
        "occluded": True,
        "attributes": "{}",
        "annotator": "max",
        "source_file": "for_video_annotations.xml",
        "source_id": "track0:frame10",
        "source_format": "cvat_video",
        "image_name": "",
        "class_id": -1,
        "file_findings": "",
    }


def test_cvat_interpolation_and_continuation(tmp_path):
    p = write(tmp_path, cvat_xml(box(0, 0, 0, 10, 20) + box(10, 10, 20, 30, 60), stop=12))
    df = read_annotations(p)
    assert_canonical(df)
    assert list(df["frame_index"]) == list(range(13))  # continues past the last keyframe up to stop_frame
    mid = df[df.frame_index == 5].iloc[0]
    assert [mid.x1, mid.y1, mid.x2, mid.y2] == [5.0, 10.0, 20.0, 40.0]
    f3 = df[df.frame_index == 3].iloc[0]
    assert [f3.x1, f3.y1, f3.x2, f3.y2] == pytest.approx([3.0, 6.0, 16.0, 32.0])
    tail = df[df.frame_index >= 10]
    assert (tail[["x1", "y1", "x2", "y2"]].to_numpy() == [10, 20, 30, 60]).all()
    assert mid.source_id == "track7:frame5" and mid.class_name == "car" and mid.track_id == 7


def test_cvat_outside_gap(tmp_path):
    boxes = (
        box(0, 0, 0, 6, 6)
        + box(6, 6, 6, 12, 12, outside=1)
        + box(8, 8, 8, 14, 14)
        + box(10, 10, 10, 16, 16, outside=1)
    )
    df = read_annotations(write(tmp_path, cvat_xml(boxes, stop=20)))
    assert list(df["frame_index"]) == [0, 1, 2, 3, 4, 5, 8, 9]  # 6,7 hidden; outside at 10 ends the track
    # Interpolation runs towards the outside keyframe's coordinates, as CVAT does.
    f3 = df[df.frame_index == 3].iloc[0]
    assert [f3.x1, f3.x2] == [3.0, 9.0]


def test_cvat_step_filter_keeps_even_frames_only(tmp_path):
    df = read_annotations(write(tmp_path, cvat_xml(box(0, 0, 0, 10, 10) + box(10, 10, 0, 20, 10), stop=14, step=2)))
    assert list(df["frame_index"]) == [0, 2, 4, 6, 8, 10, 12, 14]
    assert df[df.frame_index == 4].iloc[0].x1 == 4.0


def test_cvat_occluded_and_attributes_from_preceding_keyframe(tmp_path):
    a1 = '<attribute name="color">red</attribute><attribute name="parked">true</attribute>'
    a2 = '<attribute name="color">blue</attribute>'
    boxes = box(0, 0, 0, 4, 4, occluded=1, attrs=a1) + box(4, 0, 0, 4, 4, attrs=a2)
    df = read_annotations(write(tmp_path, cvat_xml(boxes, stop=5, assignee="ann")))
    assert list(df["occluded"]) == [True] * 4 + [False] * 2
    assert json.loads(df.iloc[3].attributes) == {"color": "red", "parked": "true"}
    assert json.loads(df.iloc[4].attributes) == {"color": "blue", "parked": "true"}  # unset values carry forward
    assert set(df["annotator"]) == {"ann"}  # assignee wins over owner


def test_cvat_without_range_uses_track_range(tmp_path):
    text = cvat_xml(box(2, 0, 0, 4, 4) + box(5, 3, 0, 7, 4), step=None).replace(
        "<start_frame>0</start_frame><stop_frame>20</stop_frame>", ""
    )
    df = read_annotations(write(tmp_path, text))
    assert list(df["frame_index"]) == [2, 3, 4, 5]


def test_cvat_images_export_is_read_as_cvat_images_not_cvat_video(tmp_path):
    text = """<annotations><version>1.1</version>
      <image id="0" name="a.jpg" width="4" height="4">
        <box label="car" xtl="0" ytl="0" xbr="1" ybr="1" occluded="0"/>
      </image>
    </annotations>"""
    p = write(tmp_path, text, "images.xml")
    with pytest.raises(AnnotationFormatError, match=r"images\.xml.*for images"):
        read_annotations(p, fmt="cvat_video")
    df = read_annotations(p)
    assert_canonical(df)
    assert list(df["source_format"]) == ["cvat_images"] and list(df["image_name"]) == ["a.jpg"]


# ---------------------------------------------------------------- detection and errors


def test_autodetect_and_override(tmp_path):
    mot = write(tmp_path, TUD_GT.read_text(), "labels.dat")
    xml = write(tmp_path, CVAT_REAL.read_text(), "labels.bin")
    assert len(read_annotations(mot)) == 359
    assert len(read_annotations(xml)) == 1
    assert len(read_annotations(mot, fmt="mot")) == 359
    with pytest.raises(AnnotationFormatError, match=r"labels\.dat"):
        read_annotations(mot, fmt="cvat_video")
    with pytest.raises(AnnotationFormatError, match=r"labels\.bin"):
        read_annotations(xml, fmt="mot")
    with pytest.raises(AnnotationFormatError, match="unknown annotation format 'pascal_voc'"):
        read_annotations(mot, fmt="pascal_voc")


@pytest.mark.parametrize(
    "name, content",
    [("garbage.txt", b"hello world\nnot labels\n"), ("empty.txt", b""), ("noise.bin", bytes(range(256)))],
)
def test_garbage_raises_clear_error(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(AnnotationFormatError, match=name.replace(".", r"\.")):
        read_annotations(p)


def test_missing_file(tmp_path):
    with pytest.raises(AnnotationFormatError, match="cannot read"):
        read_annotations(tmp_path / "nope.xml")


def test_error_is_a_value_error():
    assert issubclass(AnnotationFormatError, ValueError)


# ---------------------------------------------------------------- label_version


def test_label_version_order_independent_and_content_sensitive():
    df = read_annotations(TUD_GT)
    v = label_version(df)
    assert len(v) == 16 and int(v, 16) >= 0
    assert label_version(df.sample(frac=1, random_state=3)) == v
    assert label_version(df.sample(frac=1, random_state=4).reset_index(drop=True)) == v
    changed = df.copy()
    changed.loc[100, "x1"] += 1
    assert label_version(changed) != v
    assert label_version(read_annotations(TUD_GT)) == v


def test_label_version_hashes_nan_declared_area_stably():
    df = read_annotations(TUD_GT)
    assert df["declared_area"].isna().all()
    v = label_version(df)
    assert label_version(df.assign(declared_area=None)) == v  # None and NaN are the same missing area
    assert label_version(df.sample(frac=1, random_state=5)) == v
    with_area = df.copy()
    with_area.loc[7, "declared_area"] = 12.5
    assert label_version(with_area) != v
    assert label_version(with_area.sample(frac=1, random_state=6)) == label_version(with_area)


def test_label_version_fills_columns_older_tables_lack():
    df = read_annotations(TUD_GT)
    old = df.drop(columns=["source_format", "image_name", "class_id", "declared_area", "file_findings"])
    assert label_version(old) == label_version(df.assign(source_format="", class_id=-1))
