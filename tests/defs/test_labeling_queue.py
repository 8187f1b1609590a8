"""The hard-example labeling queue: the champion's boxes as pre-annotations, exported for Label Studio, CVAT, COCO."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import dagster as dg
import pandas as pd
import pytest
from helpers import tiny_definitions

from vision_assets.core.labels import ANNOTATION_COLUMNS, read_annotations
from vision_assets.core.mining import queue_annotations, write_labeling_queue

CLASSES = ["car", "pedestrian", "cyclist"]
COCO = "annotations/instances_default.json"  # Datumaro's COCO layout
A, B, C = "a" * 64, "b" * 64, "c" * 64
SIZES = {A: (160, 96), B: (320, 240), C: (64, 48)}
# Blob names end in digits unrelated to the frame: nothing may read a frame number from them.
QUEUED = [(A, 3), (A, 10), (A, 17), (B, 5), (B, 8), (C, 2)]
BOX_COLUMNS = ["video_sha256", "frame_index", "class_name", "x1", "y1", "x2", "y2"]


def image_path(video: str, frame: int) -> str:
    return f"/lake/blobs/frames/{video[:2]}/{video[:8]}{frame:02d}0042.jpg"


@pytest.fixture
def ranked() -> pd.DataFrame:
    return pd.DataFrame([{"frame_sha256": f"{v[:8]}{f}", "video_sha256": v, "frame_index": f, "width": SIZES[v][0],
                          "height": SIZES[v][1], "image_path": image_path(v, f), "uncertainty": 0.9}
                         for v, f in QUEUED])


@pytest.fixture
def detections() -> pd.DataFrame:
    rows = [
        (A, 3, "car", 10.5, 20.25, 60.0, 50.75, 0.55),
        (A, 3, "pedestrian", 100.0, 10.0, 110.0, 40.0, 0.31),
        (A, 10, "pedestrian", 0.0, 0.0, 15.5, 30.0, 0.45),
        (A, 17, "car", 5.0, 5.0, 25.0, 25.0, 0.1),  # under the pre-annotation threshold: frame queued without boxes
        (B, 5, "car", 200.125, 100.0, 310.0, 230.5, 0.7),
        (B, 5, "truck", 1.0, 2.0, 3.0, 4.0, 0.5),  # a class the taxonomy no longer has
        (A, 99, "car", 1.0, 1.0, 2.0, 2.0, 0.5),  # a frame not in the queue
    ]
    return pd.DataFrame([{"image_path": image_path(v, f), "class_name": c, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                          "score": s} for v, f, c, x1, y1, x2, y2, s in rows])


def boxes(df: pd.DataFrame) -> pd.DataFrame:
    return df[BOX_COLUMNS].sort_values(BOX_COLUMNS).reset_index(drop=True)


def test_queue_annotations_are_canonical_pre_annotations(ranked, detections):
    rows = queue_annotations(ranked, detections, "3")

    assert list(rows.columns) == ANNOTATION_COLUMNS
    assert sorted(zip(rows["video_sha256"], rows["frame_index"], rows["class_name"])) == [
        (A, 3, "car"), (A, 3, "pedestrian"), (A, 10, "pedestrian"), (B, 5, "car"), (B, 5, "truck")]
    assert set(rows["annotator"]) == {"model:v3"} and set(rows["source_format"]) == {"prediction"}
    assert set(rows["track_id"]) == {-1}
    assert rows["source_file"].tolist() == [image_path(v, f) for v, f in zip(rows["video_sha256"], rows["frame_index"])]
    first = rows.iloc[0]
    assert json.loads(first["attributes"]) == {"score": 0.55} and (first["x1"], first["y2"]) == (10.5, 50.75)


def test_exports_read_back_as_the_pre_annotations(tmp_path, ranked, detections):
    rows = queue_annotations(ranked, detections, "3")
    urls = {A: "s3://lake/videos/a.mp4", B: "s3://lake/videos/b.mp4", C: "s3://lake/videos/c.mp4"}

    files = write_labeling_queue(rows, ranked, tmp_path / "queue", CLASSES, video_urls=urls)

    assert set(files) == {"label_studio.json", COCO, *(f"cvat_images/{v}.xml" for v in (A, B, C))}
    assert all(path == tmp_path / "queue" / name for name, path in files.items())
    expected = boxes(rows)

    # COCO: every queued frame is an image named by its JPEG in the lake, boxed or not.
    coco = json.loads(files[COCO].read_text())
    assert sorted((i["video"], i["frame_index"], i["file_name"], i["width"]) for i in coco["images"]) == sorted(
        (v, f, image_path(v, f), SIZES[v][0]) for v, f in QUEUED)
    assert [c["name"] for c in coco["categories"]] == [*CLASSES, "truck"]
    read = read_annotations(files[COCO])
    read["video_sha256"] = [json.loads(a)["video"] for a in read["attributes"]]
    pd.testing.assert_frame_equal(boxes(read), expected)

    # CVAT for images: one file per video, frames named as CVAT names a video task's frames.
    for video in (A, B, C):
        path = files[f"cvat_images/{video}.xml"]
        read = read_annotations(path, "cvat_images").assign(video_sha256=video)
        pd.testing.assert_frame_equal(boxes(read), expected[expected["video_sha256"] == video].reset_index(drop=True),
                                      check_index_type=False)
        assert path.read_text().count("<image ") == sum(v == video for v, _ in QUEUED)
    assert 'name="frame_000017.jpg"' in files[f"cvat_images/{A}.xml"].read_text()

    # Label Studio: predictions, which the reader skips; accepting them as they are makes them annotations.
    tasks = json.loads(files["label_studio.json"].read_text())
    assert [(t["data"]["video"], t["data"]["hard_frames"]) for t in tasks] == [
        (urls[A], [4, 11, 18]), (urls[B], [6, 9]), (urls[C], [3])]
    assert all("annotations" not in t and len(t["predictions"]) == 1 for t in tasks)
    assert {r["value"]["framesCount"] for r in tasks[0]["predictions"][0]["result"]} == {18}  # to the last queued
    accepted = tmp_path / "accepted.json"
    accepted.write_text(json.dumps([{**t, "annotations": t.pop("predictions")} for t in tasks]))
    read = read_annotations(accepted, "label_studio")
    by_url = {url: video for video, url in urls.items()}
    read["video_sha256"] = [by_url[json.loads(a)["video"]] for a in read["attributes"]]
    pd.testing.assert_frame_equal(boxes(read), expected, atol=1e-9)


def test_an_empty_queue_still_writes_its_files(tmp_path):
    from vision_assets.core.labels import empty_annotations
    from vision_assets.core.sampling import FRAME_COLUMNS

    files = write_labeling_queue(empty_annotations(), pd.DataFrame(columns=FRAME_COLUMNS), tmp_path, CLASSES)

    assert set(files) == {"label_studio.json", COCO}
    assert json.loads(files["label_studio.json"].read_text()) == []
    assert json.loads(files[COCO].read_text())["images"] == []


def test_a_rerun_leaves_no_cvat_file_of_a_video_no_longer_queued(tmp_path):
    from vision_assets.core.lake import Lake
    from vision_assets.core.mining.partition import publish_queue

    lake = Lake(str(tmp_path / "lake"))
    for name in ("a.xml", "b.xml"):
        (tmp_path / name).write_text(name)
    publish_queue(lake, "q", {"cvat_images/a.xml": tmp_path / "a.xml", "cvat_images/b.xml": tmp_path / "b.xml"})

    uris = publish_queue(lake, "q", {"cvat_images/b.xml": tmp_path / "b.xml"})

    assert uris == {"cvat_images/b.xml": "q/cvat_images/b.xml"}  # lake keys
    assert not lake.exists("q/cvat_images/a.xml") and lake.exists("q/cvat_images/b.xml")


def queued_files(lake, instance, scene: str) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """The latest hard_examples materialization of a scene's partition, checked against the lake: its metadata,
    the queue table and the pre-annotation table."""
    from vision_assets.core.lake.keys import labeling_queue_folder as queue_folder

    partition = {"scene": scene, "day": "2026-11-18"}
    record = next(r for r in instance.fetch_materializations(dg.AssetKey("hard_examples"), limit=20).records
                  if r.asset_materialization.partition.endswith(f"|{scene}"))
    meta = record.asset_materialization.metadata
    queue = lake.read_table("hard_examples", partition)
    pre = lake.read_table("hard_example_boxes", partition)
    folder = queue_folder(scene, "2026-11-18", meta["champion_version"].value)
    # Metadata and files name lake objects by key / relative to the queue folder: the data folder can move.
    assert meta["labeling_queue"].path == folder
    assert meta["frames_queued"].value == len(queue) and meta["preannotated_boxes"].value == len(pre)
    assert meta["label_studio_import"].path == f"{folder}/label_studio.json"
    assert meta["coco_import"].path == f"{folder}/{COCO}"
    assert sorted(meta["cvat_images_imports"].value) == sorted(
        f"{folder}/cvat_images/{video}.xml" for video in set(queue["video_sha256"]))
    keys = [meta["label_studio_import"].path, meta["coco_import"].path, *meta["cvat_images_imports"].value]
    assert all(Path(lake.path(key)).exists() for key in keys)

    coco = Path(lake.path(meta["coco_import"].path))
    names = [i["file_name"] for i in json.loads(coco.read_text())["images"]]
    assert sorted(names) == sorted(Path(key).name for key in queue["image_path"])
    assert all((coco.parent.parent / "images" / name).read_bytes() == Path(lake.path(key)).read_bytes()
               for name, key in zip(sorted(names), sorted(queue["image_path"], key=lambda k: Path(k).name)))
    read = read_annotations(coco)
    read["video_sha256"] = [json.loads(a)["video"] for a in read["attributes"]]
    pd.testing.assert_frame_equal(boxes(read), boxes(pre), check_dtype=False)
    tasks = json.loads((coco.parent.parent / "label_studio.json").read_text())
    assert sum(len(t["data"]["hard_frames"]) for t in tasks) == len(queue)
    # the queue's H.264 copy of the file the frame numbers refer to, as Label Studio's local-files URL of its lake key
    prefix = "/data/local-files/?d="
    assert sorted(unquote(t["data"]["video"]) for t in tasks) == sorted(
        f"{prefix}{folder}/videos/{video}.mp4" for video in set(queue["video_sha256"]))
    assert all(lake.exists(unquote(t["data"]["video"].removeprefix(prefix))) for t in tasks)
    return meta, queue, pre


@pytest.mark.slow
def test_pipeline_puts_the_queue_files_in_the_lake(world_copy, monkeypatch):
    from vision_assets.core.lake import Lake
    from vision_assets.core.mining import hard_examples as mining

    settings, instance = world_copy  # after one whole-graph pass (the session's trained world)
    defs = tiny_definitions(settings)
    lake = Lake(settings.lake_root)
    for scene in ("cam-a", "cam-b"):  # a one-epoch champion may find nothing: an empty queue, files all the same
        queued_files(lake, instance, scene)

    def champion_output(weights, paths, **_):
        # Per frame: a sure car and an unsure pedestrian, or only a faint cyclist too weak to pre-annotate.
        return pd.DataFrame([(p, c, 10.0 + i, 20.0, 60.0 + i, 70.5, s) for i, p in enumerate(paths)
                             for c, s in ((("car", 0.9), ("pedestrian", 0.4)) if i % 2 else (("cyclist", 0.1),))],
                            columns=["image_path", "class_name", "x1", "y1", "x2", "y2", "score"])

    monkeypatch.setattr(mining, "predict", champion_output)
    job = defs.resolve_job_def("mine_hard_examples")
    assert job.execute_in_process(partition_key="2026-11-18|cam-a", instance=instance).success

    meta, queue, pre = queued_files(lake, instance, "cam-a")
    boxed = queue["max_confidence"] == 0.9
    assert boxed.any() and not boxed.all() and len(pre) == 2 * boxed.sum()  # faint-only frames queued without boxes
    assert set(pre["class_name"]) == {"car", "pedestrian"} and set(pre["annotator"]) == {"model:v1"}

    # What a person sees first: the queued frames drawn, by video file name, with uncertainty and how to open them.
    import base64
    import re

    names = set(lake.read_table("raw_videos", {"scene": "cam-a", "day": "2026-11-18"})["source_name"])
    table_md = meta["queue"].value
    assert any(name in table_md for name in names) and not any(v[:12] in table_md for v in queue["video_sha256"])
    thumb = base64.b64decode(re.search(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", meta["queued_frames"].value)[1])
    assert thumb[:2] == b"\xff\xd8" and len(thumb) < 30_000
    full = lake.path(meta["queued_frames_full_size"].path)
    assert Path(full).stat().st_size > len(thumb)
    assert "labelstudio push cam-a 2026-11-18" in meta["how_to_open"].value and "CVAT" in meta["how_to_open"].value
    assert meta["max_uncertainty"].value == pytest.approx(queue["uncertainty"].max(), rel=1e-3)
    # Label Studio gets the video's real frame count and each keyframe's time.
    videos = lake.read_table("raw_videos", {"scene": "cam-a", "day": "2026-11-18"}).set_index("video_sha256")
    tasks = json.loads(Path(lake.path(meta["label_studio_import"].path)).read_text())
    for task in tasks:
        video = videos.loc[task["data"]["video_sha256"]]
        assert task["data"]["fps"] == video["fps"]
        for result in task["predictions"][0]["result"]:
            assert result["value"]["framesCount"] == video["frames_decoded"]
            assert [k["time"] for k in result["value"]["sequence"]] == [
                pytest.approx((k["frame"] - 1) / video["fps"]) for k in result["value"]["sequence"]]

    # sampled_frames shows a contact sheet of its frames, a thumbnail inline and the full size in the lake.
    frames_meta = instance.get_latest_materialization_event(dg.AssetKey("sampled_frames")).asset_materialization.metadata
    sheet = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", frames_meta["contact_sheet"].value)[1])
    assert len(sheet) < 30_000 and Path(lake.path(frames_meta["contact_sheet_full_size"].path)).exists()
