"""The labelling loop against a real Label Studio server (its own virtualenv, on loopback): push a queue, label
through Label Studio's API, pull, and find the labels as a new label version of the right videos and frames."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import av
import pandas as pd
import pytest
import requests
from tool_servers import LABEL_STUDIO_TOKEN, LABEL_STUDIO_USER, label_studio_server

from vision_assets.cli.main import main

DAY = "2026-11-18"
CLASSES = ["car", "pedestrian", "cyclist"]


def champion_output(weights, paths, **_):
    """A deterministic champion: per frame a sure car and an unsure pedestrian (mining ranks by uncertainty)."""
    return pd.DataFrame([(p, c, 10.0 + i % 7, 20.0, 60.0, 70.5, s) for i, p in enumerate(paths)
                         for c, s in (("car", 0.9), ("pedestrian", 0.45 + (i % 5) / 100))],
                        columns=["image_path", "class_name", "x1", "y1", "x2", "y2", "score"])


@pytest.fixture
def ingested(tmp_path, tiny_landing, monkeypatch):
    """One scene x day ingested by `vision-assets ingest` (frames, labels, QC) and mined into a labelling queue."""
    from vision_assets.core.lake import Lake
    from vision_assets.core.mining import hard_examples as mining
    from vision_assets.core.mining.partition import mine_partition
    from vision_assets.settings import Settings

    data_dir = tmp_path / "data"
    monkeypatch.setenv("VISION_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))  # what the commands set, undone afterwards
    settings = Settings.from_env()
    shutil.copytree(tiny_landing / "cam-a", settings.landing_dir / "cam-a")
    assert main(["ingest"]) == 0
    lake = Lake(settings.lake_root)
    monkeypatch.setattr(mining, "predict", champion_output)
    mined = mine_partition(lake, "cam-a", DAY, Path("champion.pt"), "1", CLASSES, imgsz=96, top_k=6, min_score=0.25,
                           work_dir=settings.work_dir)
    assert len(mined.ranked) == 6 and len(mined.boxes) == 12
    return settings, lake, mined


def api(url: str, path: str, method: str = "GET", **kwargs):
    response = requests.request(method, url + path, headers={"Authorization": f"Token {LABEL_STUDIO_TOKEN}"},
                                timeout=60, **kwargs)
    assert response.status_code < 300, (path, response.status_code, response.text[:500])
    return response


@pytest.mark.slow
def test_push_label_pull_round_trip(tmp_path, ingested, monkeypatch, capsys):
    settings, lake, mined = ingested
    partition = {"scene": "cam-a", "day": DAY}
    videos = lake.read_table("raw_videos", partition).set_index("video_sha256")
    before = lake.read_table("annotations", partition)

    with label_studio_server(tmp_path / "label-studio", Path(settings.lake_root), tmp_path / "ls.log") as url:
        monkeypatch.setenv("LABEL_STUDIO_URL", url)
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", LABEL_STUDIO_TOKEN)
        assert main(["labelstudio", "push", "cam-a", DAY, "--json"]) == 0
        pushed = json.loads(capsys.readouterr().out)
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

        # Pushing again changes nothing.
        assert main(["labelstudio", "push", "cam-a", DAY, "--json"]) == 0
        again = json.loads(capsys.readouterr().out)
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

        assert main(["labelstudio", "pull", "cam-a", DAY, "--json"]) == 0
        pulled = json.loads(capsys.readouterr().out)
        assert main(["labelstudio", "pull", "cam-a", DAY, "--json"]) == 0
        pulled_again = json.loads(capsys.readouterr().out)

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
    # The key went nowhere: not in the drop-zone file, the lake or the Dagster instance.
    for folder in (settings.landing_dir, Path(settings.lake_root), settings.dagster_home):
        for path in Path(folder).rglob("*"):
            if path.is_file() and path.stat().st_size < 50_000_000:
                assert LABEL_STUDIO_TOKEN.encode() not in path.read_bytes(), path
