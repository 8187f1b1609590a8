"""The labelling loop against a real Label Studio server (its own virtualenv, on loopback): push a queue, label
through Label Studio's API, pull, and find the labels as a new label version of the right videos and frames."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import pandas as pd
import pytest
import requests
from tool_servers import LABEL_STUDIO_TOKEN, LABEL_STUDIO_USER, label_studio_server

DAY = "2026-11-18"
CLASSES = ["car", "pedestrian", "cyclist"]


def champion_output(weights, paths, **_):
    """A deterministic champion: per frame a sure car and an unsure pedestrian (mining ranks by uncertainty)."""
    return pd.DataFrame([(p, c, 10.0 + i % 7, 20.0, 60.0, 70.5, s) for i, p in enumerate(paths)
                         for c, s in (("car", 0.9), ("pedestrian", 0.45 + (i % 5) / 100))],
                        columns=["image_path", "class_name", "x1", "y1", "x2", "y2", "score"])


def cli(data_dir: Path, *args: str, **env: str) -> str:
    """`vision-assets ARGS` as a user runs it (its own process: the code location reads its data folder once)."""
    done = subprocess.run([sys.executable, "-m", "vision_assets.cli", *args], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "VISION_DATA_DIR": str(data_dir), **env})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, tiny_landing):
    """One scene x day ingested by `vision-assets ingest` (frames, labels, QC) and mined into a labelling queue."""
    from vision_assets.core.lake import Lake
    from vision_assets.core.mining import hard_examples as mining
    from vision_assets.core.mining.partition import mine_partition
    from vision_assets.settings import Settings

    data_dir = tmp_path_factory.mktemp("labelling") / "data"
    settings = Settings.from_env({"VISION_DATA_DIR": str(data_dir)})
    shutil.copytree(tiny_landing / "cam-a", settings.landing_dir / "cam-a")
    cli(data_dir, "ingest")
    lake = Lake(settings.lake_root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mining, "predict", champion_output)
        mined = mine_partition(lake, "cam-a", DAY, Path("champion.pt"), "1", CLASSES, imgsz=96, top_k=6,
                               min_score=0.25, work_dir=settings.work_dir)
    assert len(mined.ranked) == 6 and len(mined.boxes) == 12
    return settings, lake, mined


def api(url: str, path: str, method: str = "GET", **kwargs):
    response = requests.request(method, url + path, headers={"Authorization": f"Token {LABEL_STUDIO_TOKEN}"},
                                timeout=60, **kwargs)
    assert response.status_code < 300, (path, response.status_code, response.text[:500])
    return response


@pytest.mark.slow
def test_push_label_pull_round_trip(tmp_path, ingested):
    settings, lake, mined = ingested
    data_dir = settings.data_dir
    partition = {"scene": "cam-a", "day": DAY}
    videos = lake.read_table("raw_videos", partition).set_index("video_sha256")
    before = lake.read_table("annotations", partition)

    with label_studio_server(tmp_path / "label-studio", Path(settings.lake_root), tmp_path / "ls.log") as url:
        studio = {"LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": LABEL_STUDIO_TOKEN}
        pushed = json.loads(cli(data_dir, "labelstudio", "push", "cam-a", DAY, "--champion", "1", "--json", **studio))
        queued_videos = sorted(set(mined.ranked["video_sha256"]))
        assert pushed["tasks_created"] == len(queued_videos) and pushed["tasks_kept"] == 0

        # The project: the taxonomy, the video's real frame rate.
        project = api(url, f"/api/projects/{pushed['project_id']}/").json()
        assert 'frameRate="10"' in project["label_config"]
        assert all(f'<Label value="{name}"/>' in project["label_config"] for name in CLASSES)
        tasks = api(url, "/api/tasks/", params={"project": project["id"], "fields": "all"}).json()["tasks"]
        assert sorted(t["data"]["video_sha256"] for t in tasks) == queued_videos

        for task in tasks:
            video = task["data"]["video_sha256"]
            assert task["data"]["video_name"] == videos.loc[video, "source_name"]
            # The champion's boxes as predictions, on the queued frames (Label Studio counts frames from 1).
            predictions = api(url, "/api/predictions/", params={"task": task["id"]}).json()
            assert [p["model_version"] for p in predictions] == ["model:v1"]
            frames = sorted(k["frame"] - 1 for r in predictions[0]["result"] for k in r["value"]["sequence"])
            expected = mined.boxes[mined.boxes["video_sha256"] == video]["frame_index"]
            assert frames == sorted(expected.tolist())
            # The media: served by Label Studio itself, H.264 in 4:2:0, every frame at the video's rate.
            media = api(url, task["data"]["video"])
            with av.open(io.BytesIO(media.content)) as container:
                stream = container.streams.video[0]
                assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
                assert float(stream.average_rate) == videos.loc[video, "fps"] == 10
                assert sum(1 for _ in container.decode(stream)) == videos.loc[video, "frames_decoded"]

        # Pushing again changes nothing; this time with a personal access token (a JWT the client trades for an
        # access token) instead of the legacy token.
        personal = api(url, "/api/token/", "POST").json()["token"]
        again = json.loads(cli(data_dir, "labelstudio", "push", "cam-a", DAY, "--champion", "1", "--json",
                               LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=personal))
        assert (again["project_id"], again["tasks_created"], again["tasks_kept"]) == (
            project["id"], 0, len(queued_videos))
        assert len(api(url, "/api/tasks/", params={"project": project["id"]}).json()["tasks"]) == len(tasks)
        assert len(api(url, "/api/storages/localfiles/", params={"project": project["id"]}).json()) == 1

        # An annotator labels one video: a car from frame 3 to frame 5 (interpolated), in Label Studio's terms.
        task = tasks[0]
        width, height = int(videos.loc[task["data"]["video_sha256"], "width"]), 96
        sequence = [{"frame": 3, "enabled": True, "x": 10, "y": 25, "width": 20, "height": 50, "rotation": 0},
                    {"frame": 5, "enabled": False, "x": 20, "y": 25, "width": 20, "height": 50, "rotation": 0}]
        result = [{"id": "7", "type": "videorectangle", "from_name": "box", "to_name": "video", "origin": "manual",
                   "original_width": width, "original_height": height,
                   "value": {"framesCount": int(videos.loc[task["data"]["video_sha256"], "frames_decoded"]),
                             "sequence": sequence, "labels": ["car"]}}]
        api(url, f"/api/tasks/{task['id']}/annotations/", "POST", json={"result": result})

        pulled = json.loads(cli(data_dir, "labelstudio", "pull", "cam-a", DAY, "--champion", "1", "--json", **studio))
        pulled_again = json.loads(cli(data_dir, "labelstudio", "pull", "cam-a", DAY, "--champion", "1", "--json", **studio))

    video = task["data"]["video_sha256"]
    assert [(f["video_sha256"], f["written"], f["annotators"]) for f in pulled["files"]] == [
        (video, True, [LABEL_STUDIO_USER])]
    assert Path(pulled["files"][0]["file"]) == (
        settings.landing_dir / "annotations" / "cam-a" / DAY / f"{videos.loc[video, 'source_name']}.json")
    # A new label version holding the annotator's boxes on that video's frames 2-4 (0-based), by name.
    after = lake.read_table("annotations", partition)
    assert pulled["label_version"] == after["label_version"].iloc[0] != before["label_version"].iloc[0]
    theirs = after[after["annotator"] == LABEL_STUDIO_USER]
    assert set(theirs["video_sha256"]) == {video} and set(theirs["class_name"]) == {"car"}
    assert theirs["frame_index"].tolist() == [2, 3, 4]
    assert theirs["x1"].tolist() == pytest.approx([0.10 * width, 0.15 * width, 0.20 * width])
    assert theirs["y1"].tolist() == pytest.approx([0.25 * height] * 3)
    assert len(after) == len(before) + 3  # the labels beside the videos are all still there
    versions = pd.read_parquet(Path(settings.lake_root) / "tables" / "annotation_versions")  # every version stays
    assert {before["label_version"].iloc[0], pulled["label_version"]} <= set(versions["label_version"].astype(str))
    # Pulling again: the same file, the same label version.
    assert [f["written"] for f in pulled_again["files"]] == [False]
    assert pulled_again["label_version"] == pulled["label_version"]
    # The keys went nowhere: not in the drop-zone file, the lake or the Dagster instance.
    for folder in (settings.landing_dir, Path(settings.lake_root), settings.dagster_home):
        for path in Path(folder).rglob("*"):
            if path.is_file() and path.stat().st_size < 50_000_000:
                content = path.read_bytes()
                assert LABEL_STUDIO_TOKEN.encode() not in content and personal.encode() not in content, path


DATUMARO_READS_THE_QUEUE = """
import json, sys
import datumaro as dm

queue = sys.argv[1]
labels = lambda ds: ds.categories()[dm.AnnotationType.label]
out = {}
coco = dm.Dataset.import_from(queue, "coco_instances")
out["coco"] = [{"subset": item.subset, "id": item.id, "path": item.media.path, "size": list(item.media.size),
                "boxes": [[labels(coco)[a.label].name, *a.get_bbox()] for a in item.annotations
                          if a.type == dm.AnnotationType.bbox]} for item in coco]
cvat = dm.Dataset.import_from(queue + "/cvat_images", "cvat")
out["cvat"] = [{"subset": item.subset, "id": item.id, "path": item.media.path, "size": list(item.media.size),
                "boxes": [[labels(cvat)[a.label].name, *a.get_bbox()] for a in item.annotations
                          if a.type == dm.AnnotationType.bbox]} for item in cvat]
print(json.dumps(out))
"""

FIFTYONE_READS_THE_QUEUE = """
import json, sys
import fiftyone as fo
import fiftyone.types as fot

queue = sys.argv[1]
dataset = fo.Dataset.from_dir(dataset_type=fot.COCODetectionDataset, data_path=queue + "/images",
                              labels_path=queue + "/annotations/instances_default.json", label_types="detections",
                              label_field="champion")
out = []
for sample in dataset:
    width, height = sample.metadata.width, sample.metadata.height
    found = sample["champion"].detections if sample["champion"] else []
    out.append({"path": sample.filepath, "boxes": [[d.label, d.bounding_box[0] * width, d.bounding_box[1] * height,
                                                    d.bounding_box[2] * width, d.bounding_box[3] * height]
                                                   for d in found]})
print(json.dumps(out))
"""


def expected_boxes(mined, key) -> dict:
    """Per queued frame (by key(video_sha256, frame_index)), the champion's boxes as (class, x, y, w, h)."""
    out = {key(r.video_sha256, r.frame_index): [] for r in mined.ranked.itertuples()}
    for box in mined.boxes.itertuples():
        out[key(box.video_sha256, box.frame_index)].append(
            [box.class_name, box.x1, box.y1, box.x2 - box.x1, box.y2 - box.y1])
    return {k: sorted(v) for k, v in out.items()}


def rounded(boxes) -> list:
    return sorted([b[0], *(round(float(v), 3) for v in b[1:])] for b in boxes)


@pytest.mark.slow
def test_datumaro_and_fiftyone_open_the_queue_as_shipped(tmp_path, ingested):
    """Datumaro 1.13 (COCO and CVAT for images) and FiftyOne (COCO) read the queue folder as it lies in the lake,
    with every queued frame's image found and the champion's boxes on it."""
    from tool_servers import run_in_venv, tool_venv

    settings, lake, mined = ingested
    queue = Path(lake.path(mined.queue_folder))
    by_name = {Path(p).name: (v, f) for p, v, f in zip(mined.ranked["image_path"], mined.ranked["video_sha256"],
                                                       mined.ranked["frame_index"])}

    found = json.loads(run_in_venv(tool_venv("datumaro"), DATUMARO_READS_THE_QUEUE, str(queue)))
    coco = {by_name[Path(item["path"]).name]: item for item in found["coco"]}
    assert all(Path(item["path"]).is_relative_to(queue / "images") and Path(item["path"]).exists()
               for item in found["coco"])
    assert {k: rounded(v["boxes"]) for k, v in coco.items()} == {
        k: rounded(v) for k, v in expected_boxes(mined, lambda v, f: (v, f)).items()}
    cvat = {(item["subset"], item["id"]): item for item in found["cvat"]}
    assert {k: rounded(v["boxes"]) for k, v in cvat.items()} == {
        k: rounded(v) for k, v in expected_boxes(mined, lambda v, f: (v, f"frame_{f:06d}")).items()}
    assert all(Path(item["path"]).exists() and item["size"] == [96, 160] for item in found["cvat"])

    from pycocotools.coco import COCO

    index = COCO(str(queue / "annotations" / "instances_default.json"))
    assert len(index.getImgIds()) == len(mined.ranked) and len(index.getAnnIds()) == len(mined.boxes)
    assert all((queue / "images" / image["file_name"]).exists() for image in index.loadImgs(index.getImgIds()))

    fiftyone_env = {"FIFTYONE_DATABASE_DIR": str(tmp_path / "fiftyone-db"), "FIFTYONE_DO_NOT_TRACK": "true"}
    printed = run_in_venv(tool_venv("fiftyone"), FIFTYONE_READS_THE_QUEUE, str(queue), env=fiftyone_env)
    samples = json.loads(printed.strip().splitlines()[-1])  # FiftyOne prints a MongoDB notice before it
    assert {by_name[Path(s["path"]).name]: rounded(s["boxes"]) for s in samples} == {
        k: rounded(v) for k, v in expected_boxes(mined, lambda v, f: (v, f)).items()}


def test_the_labelling_config_carries_the_classes_and_the_real_frame_rate():
    from vision_assets.core.labelling.label_studio_sync import labelling_config

    config = labelling_config(["car", 'say "hi" & <go>'], 45000 / 1499)
    assert 'frameRate="30.02001334"' in config and '<Label value="car"/>' in config
    assert "<Label value='say \"hi\" &amp; &lt;go&gt;'/>" in config  # quoted, still one attribute
    assert 'frameRate="$fps"' in labelling_config(["car"], None)  # videos at several rates: each task's own


def test_push_without_a_queue_or_a_server_is_a_one_line_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "vision_assets.cli", "labelstudio", "push", "cam-a", DAY],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "VISION_DATA_DIR": str(tmp_path / "data"),
                               "LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "k"})
    assert done.returncode == 2 and done.stderr == (
        f"vision-assets: error: labeling_queue/scene=cam-a/day={DAY}: no labelling queue for cam-a {DAY} "
        "(mine the partition first)\n")


@pytest.mark.slow
def test_a_new_champion_reuses_the_partition_s_browser_videos(ingested, monkeypatch):
    from vision_assets.core.mining import hard_examples as mining
    from vision_assets.core.mining import partition as mining_partition
    from vision_assets.core.mining.partition import mine_partition

    settings, lake, first = ingested
    monkeypatch.setattr(mining, "predict", champion_output)
    monkeypatch.setattr(mining_partition, "transcode_for_browser", None)  # calling it would fail the test
    second = mine_partition(lake, "cam-a", DAY, Path("champion.pt"), "2", CLASSES, imgsz=96, top_k=6, min_score=0.25,
                            work_dir=settings.work_dir)

    videos = sorted(name for name in first.queue_files if name.startswith("videos/"))
    assert videos and videos == sorted(name for name in second.queue_files if name.startswith("videos/"))
    read = lambda key: Path(lake.path(key)).read_bytes()  # noqa: E731
    assert all(read(second.queue_files[name]) == read(first.queue_files[name]) for name in videos)
    tasks = {t["data"]["video_sha256"]: t for t in json.loads(read(second.queue_files["label_studio.json"]))}
    frames = lake.read_table("raw_videos", {"scene": "cam-a", "day": DAY}).set_index("video_sha256")["frames_decoded"]
    assert all(r["value"]["framesCount"] == frames[v] for v, t in tasks.items() for r in t["predictions"][0]["result"])


@pytest.mark.slow
def test_forgetting_a_video_finds_every_copy_the_queues_hold_of_it(ingested):
    from vision_assets.core.mining.partition import queue_files_of_video

    settings, lake, mined = ingested
    video = mined.ranked["video_sha256"].iloc[0]
    frame_keys = mined.ranked.loc[mined.ranked["video_sha256"] == video, "image_path"].tolist()

    found = {str(Path(p).relative_to(Path(lake.path(mined.queue_folder)))) for p in
             queue_files_of_video(lake, video, frame_keys) if Path(p).is_relative_to(Path(lake.path(mined.queue_folder)))}

    frames = mined.ranked.loc[mined.ranked["video_sha256"] == video, "frame_index"]
    assert found == {f"videos/{video}.mp4", f"cvat_images/{video}.xml",
                     *(f"images/{Path(k).name}" for k in frame_keys),
                     *(f"cvat_images/images/{video}/frame_{f:06d}.jpg" for f in frames)}
