"""Labels land on the frames they name, or the file is refused with a reason: on clips cut from the real campus
footage (vtest.avi), a COCO file numbered from 1, MOTChallenge's own gt.txt, a Label Studio project export with a
task per video, and files whose keyframes would expand past the video."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import pytest
from helpers import MATERIAL, write_clip

from vision_assets.core.ingest import label_files_for, scan_landing
from vision_assets.core.labels import AnnotationFormatError, read_annotations
from vision_assets.core.labels.partition import LabelFile, import_partition_labels
from vision_assets.core.lake import Lake
from vision_assets.core.video.probe import probe_video

PARTITION = {"scene": "campus", "day": "2024-03-05"}
SIZE = (384, 288)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Three consecutive cuts of vtest.avi (77, 40 and 30 frames), halved in size."""
    folder = tmp_path_factory.mktemp("clips")
    capture = cv2.VideoCapture(str(MATERIAL / "videos" / "vtest.avi"))
    frames = []
    while len(frames) < 147:
        ok, image = capture.read()
        assert ok
        frames.append(cv2.resize(image, SIZE))
    capture.release()
    cuts = {"walk_a.mp4": frames[:77], "walk_b.mp4": frames[77:117], "walk_c.mp4": frames[117:]}
    return {name: write_clip(folder / name, images) for name, images in cuts.items()}


def video_record(path: Path, lake_key: str = "") -> dict:
    """The raw_videos row ingest writes for a clip: what the import reads of it."""
    probe = probe_video(path)
    assert probe.outcome == "ok"
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"video_sha256": sha, "source_name": path.name, "width": probe.width, "height": probe.height,
            "frames_decoded": probe.frames_decoded, "stored_path": lake_key or f"blobs/videos/{sha[:2]}/{sha}.mp4",
            "normalised_path": ""}


def coco(numbers: list[int], boxes_per_image: int = 2) -> dict:
    images = [{"id": i + 1, "file_name": f"frame_{n:06d}.jpg", "width": SIZE[0], "height": SIZE[1]}
              for i, n in enumerate(numbers)]
    annotations = [{"id": len(numbers) * b + i + 1, "image_id": i + 1, "category_id": 1,
                    "bbox": [10.0 + 30 * b, 20.0, 25.0, 60.0], "area": 1500.0, "iscrowd": 0}
                   for i in range(len(numbers)) for b in range(boxes_per_image)]
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "pedestrian"}]}


def drop(folder: Path, name: str, content) -> LabelFile:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return LabelFile(path, Path(name).stem, fingerprint=name)


# --- COCO numbered from 1 ------------------------------------------------------------------------------------


def test_coco_numbered_from_one_like_ffmpeg_lands_on_the_right_frames_and_says_so(tmp_path, clips):
    video = video_record(clips["walk_a.mp4"])
    assert video["frames_decoded"] == 77
    # `ffmpeg -i walk_a.mp4 %06d.jpg` names the first frame 000001: 77 images named 1..77.
    entry = drop(tmp_path / "zone", "walk_a.json", coco(list(range(1, 78))))
    labels = import_partition_labels(Lake(str(tmp_path / "lake")), PARTITION, [video], {}, [entry])

    table = labels.table
    assert len(table) == 154
    assert (table["frame_index"].min(), table["frame_index"].max()) == (0, 76)  # not 1..77, one frame late
    assert set(table.loc[table["image_name"] == "frame_000001.jpg", "frame_index"]) == {0}
    assert set(table["file_findings"]) == {"frames_numbered_from_1"}  # recorded on the label version's rows
    source = labels.sources.iloc[0]
    assert source["rows"] == 154 and "from 1" in source["note"] and source["problem"] == ""
    assert not labels.errors


def test_coco_numbered_from_zero_or_sampled_is_read_as_named(tmp_path, clips):
    video = video_record(clips["walk_a.mp4"])
    lake = Lake(str(tmp_path / "lake"))
    zero_based = drop(tmp_path / "zone", "walk_a.json", coco(list(range(0, 77))))
    table = import_partition_labels(lake, PARTITION, [video], {}, [zero_based]).table
    assert (table["frame_index"].min(), table["frame_index"].max()) == (0, 76)
    assert set(table["file_findings"]) == {""}
    # Every fifth frame from 5 on: nothing in the file says it counts from 1, so it is read as named.
    sampled = drop(tmp_path / "zone2", "walk_a.json", coco(list(range(5, 77, 5))))
    labels = import_partition_labels(lake, PARTITION, [video], {}, [sampled])
    assert sorted(set(labels.table["frame_index"])) == list(range(5, 77, 5))
    assert labels.sources.iloc[0]["note"] == ""


# --- MOTChallenge gt.txt -------------------------------------------------------------------------------------

MOT_LINES = "".join(f"{f},{t},{40 + 50 * t + f},{60},{30},{80},1,1,1\n" for f in range(1, 78) for t in (1, 2))


def test_gt_txt_beside_the_only_video_is_its_labels(tmp_path, clips):
    landing = tmp_path / "landing"
    day = landing / "campus" / "2024-03-05"
    day.mkdir(parents=True)
    shutil.copy(clips["walk_a.mp4"], day / "walk_a.mp4")
    (day / "gt.txt").write_text(MOT_LINES)

    found = scan_landing(landing)
    assert [(f.path.name, f.refused) for f in found] == [("walk_a.mp4", "")]
    assert [p.name for p in found[0].labels] == ["gt.txt"]
    beside = label_files_for(day / "walk_a.mp4")
    assert [p.name for p in beside] == ["gt.txt"]

    video = video_record(day / "walk_a.mp4")
    labels = import_partition_labels(Lake(str(tmp_path / "lake")), PARTITION, [video], {video["video_sha256"]: beside},
                                     [])
    assert len(labels.table) == 154 and labels.unlabelled == []
    assert (labels.table["frame_index"].min(), labels.table["frame_index"].max()) == (0, 76)  # MOT counts from 1


def test_gt_txt_in_the_sequence_folder_of_its_video_is_its_labels(tmp_path, clips):
    landing = tmp_path / "landing"
    day = landing / "campus" / "2024-03-05"
    (day / "walk_b" / "gt").mkdir(parents=True)
    shutil.copy(clips["walk_a.mp4"], day / "walk_a.mp4")
    shutil.copy(clips["walk_b.mp4"], day / "walk_b.mp4")
    (day / "walk_b" / "gt" / "gt.txt").write_text(MOT_LINES)

    found = {f.path.name: f for f in scan_landing(landing)}
    assert set(found) == {"walk_a.mp4", "walk_b.mp4"} and not any(f.refused for f in found.values())
    assert found["walk_a.mp4"].labels == ()
    assert [p.relative_to(day).as_posix() for p in found["walk_b.mp4"].labels] == ["walk_b/gt/gt.txt"]
    assert [p.name for p in label_files_for(day / "walk_b.mp4")] == ["gt.txt"]


def test_gt_txt_that_no_single_video_owns_is_refused_with_the_reason(tmp_path, clips):
    landing = tmp_path / "landing"
    day = landing / "campus" / "2024-03-05"
    (day / "walk_z" / "gt").mkdir(parents=True)
    shutil.copy(clips["walk_a.mp4"], day / "walk_a.mp4")
    shutil.copy(clips["walk_b.mp4"], day / "walk_b.mp4")
    (day / "gt.txt").write_text(MOT_LINES)
    (day / "walk_z" / "gt" / "gt.txt").write_text(MOT_LINES)

    refused = {f.path.relative_to(day).as_posix(): f.refused for f in scan_landing(landing) if f.refused}
    assert "2 videos (walk_a.mp4, walk_b.mp4)" in refused["gt.txt"]
    assert "no video named walk_z.<ext>" in refused["walk_z/gt/gt.txt"]
    assert label_files_for(day / "walk_a.mp4") == []


def test_a_linked_gt_txt_in_a_sequence_folder_is_refused_not_followed(tmp_path, clips):
    landing = tmp_path / "landing"
    day = landing / "campus" / "2024-03-05"
    (day / "walk_a" / "gt").mkdir(parents=True)
    shutil.copy(clips["walk_a.mp4"], day / "walk_a.mp4")
    (tmp_path / "elsewhere.txt").write_text(MOT_LINES)
    (day / "walk_a" / "gt" / "gt.txt").symlink_to(tmp_path / "elsewhere.txt")

    found = {f.path.relative_to(day).as_posix(): f for f in scan_landing(landing)}
    assert found["walk_a.mp4"].labels == ()
    assert "symbolic link" in found["walk_a/gt/gt.txt"].refused


# --- Label Studio project export -----------------------------------------------------------------------------


def ls_task(task_id: int, reference: str, frames: range, track: str) -> dict:
    sequence = [{"frame": f, "enabled": f != frames[-1], "x": 10.0, "y": 10.0, "width": 20.0, "height": 30.0}
                for f in (frames[0], frames[-1])]
    return {"id": task_id, "data": {"video": reference}, "annotations": [{"completed_by": 1, "result": [{
        "id": track, "type": "videorectangle", "from_name": "box", "to_name": "video",
        "original_width": SIZE[0], "original_height": SIZE[1],
        "value": {"sequence": sequence, "labels": ["pedestrian"], "framesCount": frames[-1]}}]}]}


def test_label_studio_export_with_a_task_per_video_is_split_by_video(tmp_path, clips):
    a, b = video_record(clips["walk_a.mp4"]), video_record(clips["walk_b.mp4"])
    export = [ls_task(1, "/data/upload/1/3f2a9c1e-walk_a.mp4", range(1, 78), "ta"),  # uploaded: by file name
              ls_task(2, "/data/local-files/?d=" + b["stored_path"], range(1, 41), "tb"),  # the lake key
              {"id": 3, "data": {"video": "/data/upload/1/elsewhere.mp4"}, "annotations": []}]  # nothing to place
    entry = drop(tmp_path / "zone", "walk_a.json", export)  # named after one video, as a user would
    labels = import_partition_labels(Lake(str(tmp_path / "lake")), PARTITION, [a, b], {}, [entry])

    per_video = labels.table.groupby("video_sha256")["frame_index"].agg(["count", "min", "max"])
    assert per_video.loc[a["video_sha256"]].tolist() == [77, 0, 76]
    assert per_video.loc[b["video_sha256"]].tolist() == [40, 0, 39]
    assert labels.errors == [] and labels.unlabelled == [] and labels.unmatched == []
    sources = labels.sources.set_index("video_sha256")
    assert sources.loc[b["video_sha256"], "note"] == "1 of the export's 3 tasks name walk_b.mp4"


def test_label_studio_export_with_a_task_of_no_video_here_is_refused_whole(tmp_path, clips):
    a, b = video_record(clips["walk_a.mp4"]), video_record(clips["walk_b.mp4"])
    export = [ls_task(1, "/data/upload/1/3f2a9c1e-walk_a.mp4", range(1, 78), "ta"),
              ls_task(2, "/data/upload/1/9d8c7b6a-another_day.mp4", range(1, 41), "tb")]
    entry = drop(tmp_path / "zone", "walk_a.json", export)
    labels = import_partition_labels(Lake(str(tmp_path / "lake")), PARTITION, [a, b], {}, [entry])

    assert len(labels.table) == 0  # never put on walk_a, whose name the file carries
    assert len(labels.errors) == 1 and "refused whole" in labels.errors[0]["error"]
    assert "another_day.mp4" in labels.errors[0]["error"]
    source = labels.sources.iloc[0]
    assert (source["format"], source["rows"]) == ("unreadable", 0) and "task 2" in source["problem"]


# --- Expansions bounded by the video -------------------------------------------------------------------------

CVAT_30M = """<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version><meta><task><mode>interpolation</mode><start_frame>0</start_frame>
<stop_frame>30000000</stop_frame></task></meta>
<track id="0" label="pedestrian"><box frame="0" outside="0" occluded="0" keyframe="1" xtl="1" ytl="1" xbr="9"
ybr="9"/></track></annotations>
"""


def test_a_cvat_file_past_the_video_is_refused_and_its_neighbour_imports(tmp_path, clips):
    assert len(CVAT_30M.encode()) < 500
    a, b = video_record(clips["walk_a.mp4"]), video_record(clips["walk_b.mp4"])
    zone = tmp_path / "zone"
    bad = drop(zone, "walk_a.xml", CVAT_30M)
    good = drop(zone, "walk_b.txt", "".join(f"{f},1,10,10,20,20,1,1,1\n" for f in range(1, 41)))
    labels = import_partition_labels(Lake(str(tmp_path / "lake")), PARTITION, [a, b], {}, [bad, good])

    assert len(labels.table) == 40 and set(labels.table["video_sha256"]) == {b["video_sha256"]}
    assert len(labels.errors) == 1
    assert "stop_frame 30000000 reaches frame 30,000,000, past the video's 77 frames" in labels.errors[0]["error"]


def test_a_label_studio_frames_count_past_the_video_is_refused(tmp_path, clips):
    a = video_record(clips["walk_a.mp4"])
    task = ls_task(1, "walk_a.mp4", range(1, 10), "ta")
    task["annotations"][0]["result"][0]["value"]["framesCount"] = 1e9
    entry = drop(tmp_path / "zone", "walk_a.json", task)
    labels = import_partition_labels(Lake(str(tmp_path / "lake")), PARTITION, [a], {}, [entry])
    assert len(labels.table) == 0
    assert "framesCount 1,000,000,000 reaches frame 999,999,999, past the video's 77 frames" in labels.errors[0]["error"]


def test_without_a_video_expansions_stop_at_the_frame_limit(tmp_path, monkeypatch):
    path = tmp_path / "huge.xml"
    path.write_text(CVAT_30M)
    with pytest.raises(AnnotationFormatError, match="past 1,000,000 frames \\(VISION_MAX_LABEL_FRAMES"):
        read_annotations(path)
    monkeypatch.setenv("VISION_MAX_LABEL_FRAMES", "40000000")
    monkeypatch.setenv("VISION_MAX_LABEL_ROWS", "1000")
    with pytest.raises(AnnotationFormatError, match="more than 1,000 rows \\(VISION_MAX_LABEL_ROWS\\)"):
        read_annotations(path)
    # Within the bounds, the same file expands as before.
    monkeypatch.setenv("VISION_MAX_LABEL_ROWS", "100000000")
    small = tmp_path / "small.xml"
    small.write_text(CVAT_30M.replace("30000000", "99"))
    assert read_annotations(small)["frame_index"].tolist() == list(range(100))
