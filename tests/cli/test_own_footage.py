"""A team's own footage, end to end, through the command line only: real campus video (vtest.avi cut into short
clips), labels in two formats (MOTChallenge txt beside the videos, COCO JSON in the drop zone) whose class name
`person` is not a project class but an alias of one in vision.yaml, `vision-assets run`: a dataset, a registered
model that stays under the champion floor; then a second day, processed alone. And without the alias, the QC gate
fails in one line that names the partition, the rule, the numbers and the class."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import MATERIAL, write_clip

pytestmark = pytest.mark.slow

SCENE, DAY1, DAY2 = "campus", "2024-03-05", "2024-03-06"
SIZE = (320, 240)
CLIP_FRAMES = 30  # 3 s at 10 fps
# (day, name, first frame of vtest.avi, how its labels come)
CLIPS = [(DAY1, "gate_a", 0, "mot"), (DAY1, "gate_b", 100, "mot"), (DAY1, "gate_c", 200, "coco"),
         (DAY2, "gate_d", 300, "coco")]
PROJECT = """\
classes:
  - name: pedestrian
    aliases: [person]
training:
  epochs: 1
  imgsz: 64
  batch: 8
  workers: 0
  device: cpu
retrain:
  min_new_labels: 200
promotion:
  min_map50_95: 0.9   # a one-epoch model never reaches it: registered, never champion
sampling:
  default: {strategy: fixed_interval, params: {every_seconds: 0.3}}
"""


def _frames() -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(MATERIAL / "videos" / "vtest.avi"))
    frames = []
    while len(frames) < 330:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA))
    capture.release()
    return frames


def _people(frames: list[np.ndarray]) -> list[list[tuple[int, int, int, int]]]:
    """Pedestrian boxes (x, y, w, h) per frame, as a third-party detector would give them: moving blobs
    against the static camera's median background."""
    import cv2

    background = cv2.cvtColor(np.median(np.stack(frames[::8]), axis=0).astype(np.uint8), cv2.COLOR_BGR2GRAY)
    found = []
    for frame in frames:
        diff = cv2.absdiff(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), background)
        _, mask = cv2.threshold(diff, 30, 255, cv2.THRESH_BINARY)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        found.append([tuple(int(v) for v in s[:4]) for s in stats[1:] if s[4] > 60 and s[3] > 12])
    return found


def _tracks(boxes: list[list[tuple]]) -> list[list[int]]:
    """Track ids by greedy nearest centre from frame to frame (a tracker's output; one id per object per frame)."""
    next_id, previous, ids = 1, [], []
    for frame_boxes in boxes:
        own, taken = [], set()
        for x, y, w, h in frame_boxes:
            centre = (x + w / 2, y + h / 2)
            near = [(abs(centre[0] - c[0]) + abs(centre[1] - c[1]), i) for c, i in previous if i not in taken]
            distance, track = min(near, default=(1e9, 0))
            if distance > 20:
                track, next_id = next_id, next_id + 1
            taken.add(track)
            own.append(track)
        ids.append(own)
        previous = [((x + w / 2, y + h / 2), i) for (x, y, w, h), i in zip(frame_boxes, own)]
    return ids


def _write_mot(path: Path, boxes, tracks) -> int:
    lines = [f"{f + 1},{t},{x},{y},{w},{h},1,1,1.0" for f, (fb, ft) in enumerate(zip(boxes, tracks))
             for (x, y, w, h), t in zip(fb, ft)]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def _write_coco(path: Path, video: str, boxes) -> int:
    images = [{"id": f + 1, "file_name": f"{video}/frame_{f:06d}.jpg", "frame_index": f, "width": SIZE[0],
               "height": SIZE[1]} for f in range(len(boxes))]
    annotations = [{"id": len(images) * 100 + f * 50 + k, "image_id": f + 1, "category_id": 1, "bbox": list(box),
                    "area": box[2] * box[3], "iscrowd": 0} for f, fb in enumerate(boxes) for k, box in enumerate(fb)]
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "person"}]}))
    return len(annotations)


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> dict:
    """The four clips and their label files, made once: {name: (day, clip path, label path, rows, format)}."""
    root = tmp_path_factory.mktemp("footage")
    frames = _frames()
    people = _people(frames)
    made = {}
    for day, name, start, kind in CLIPS:
        clip = write_clip(root / f"{name}.mp4", frames[start:start + CLIP_FRAMES], fps=10)
        boxes = people[start:start + CLIP_FRAMES]
        label = root / (f"{name}.txt" if kind == "mot" else f"{name}.json")
        rows = _write_mot(label, boxes, _tracks(boxes)) if kind == "mot" else _write_coco(label, name, boxes)
        made[name] = (day, clip, label, rows, kind)
    return made


def _land(landing: Path, footage: dict, day: str) -> None:
    for clip_day, clip, label, _, kind in footage.values():
        if clip_day != day:
            continue
        folder = landing / SCENE / day
        folder.mkdir(parents=True, exist_ok=True)
        (folder / clip.name).write_bytes(clip.read_bytes())
        drop = folder if kind == "mot" else landing / "annotations" / SCENE / day
        drop.mkdir(parents=True, exist_ok=True)
        (drop / label.name).write_bytes(label.read_bytes())


def _cli(data_dir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "VISION_DATA_DIR": str(data_dir)}
    for name in ("VISION_EPOCHS", "VISION_IMGSZ", "VISION_DEVICE", "VISION_CONFIG", "DAGSTER_HOME"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "vision_assets.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def project(tmp_path_factory, footage) -> dict:
    """vision.yaml, day 1 landed, `vision-assets run --json`; then day 2 landed and `run` again."""
    data = tmp_path_factory.mktemp("own") / "data"
    data.mkdir()
    (data / "vision.yaml").write_text(PROJECT)
    _land(data / "landing", footage, DAY1)
    first = _cli(data, "run", "--json")
    _land(data / "landing", footage, DAY2)
    second = _cli(data, "run", "--json")
    return {"data": data, "first": first, "second": second}


def test_day_one_runs_to_a_registered_model_under_the_champion_floor(project, footage):
    first = project["first"]
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Traceback" not in first.stderr
    report = json.loads(first.stdout)
    story = {entry["video"]: entry for entry in report["labels"]}
    written = {f"{name}.mp4": rows for name, (day, _, _, rows, _) in footage.items() if day == DAY1}
    assert {video: entry["imported"] for video, entry in story.items()} == written
    # `person` became `pedestrian` through the alias: nothing unknown, and QC kept the COCO clip's rows too.
    assert all(entry["unknown_classes"] == [] for entry in story.values())
    assert story["gate_c.mp4"]["kept"] > 0.9 * written["gate_c.mp4"]
    assert all(entry["qc_passed"] for entry in story.values())
    summary = report["summary"]
    assert summary["dataset_version"] and summary["model"]["version"] == "1"
    assert "champion" not in summary  # registered, but under promotion.min_map50_95

    from vision_assets.core.registry import DEFAULT_MODEL_NAME, ModelRegistry
    from vision_assets.settings import Settings

    settings = Settings.from_env({"VISION_DATA_DIR": str(project["data"])})
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    assert registry.champion(DEFAULT_MODEL_NAME) is None
    decision = registry.get_version(DEFAULT_MODEL_NAME, "1").tags["champion_decision"]
    assert decision.startswith("not promoted (map50_95 ") and "< floor 0.9, promotion.min_map50_95" in decision


def test_the_second_day_is_processed_alone(project, footage):
    second = project["second"]
    assert second.returncode == 0, second.stderr[-3000:]
    report = json.loads(second.stdout)
    partitions = {run["partition"] for run in report["runs"] if run["partition"]}
    assert partitions == {f"{DAY2}|{SCENE}"}
    assert [(e["video"], e["imported"]) for e in report["labels"]] == [("gate_d.mp4", footage["gate_d"][3])]
    # 1 video's labels are under retrain.min_new_labels: no second training, the model stays v1.
    assert not any(run["job"] == "train_and_register" for run in report["runs"])
    assert report["summary"]["model"]["version"] == "1"


def test_without_the_alias_the_qc_gate_fails_in_one_line_naming_the_class(tmp_path, footage):
    data = tmp_path / "data"
    data.mkdir()
    (data / "vision.yaml").write_text("classes: [pedestrian]\n")
    _land(data / "landing", {"gate_c": footage["gate_c"]}, DAY1)

    result = _cli(data, "ingest")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "DagsterAssetCheckFailedError" not in result.stderr + result.stdout
    rows = footage["gate_c"][3]
    line = f"not done: {SCENE}/{DAY1}: qc_pass_rate 0.0 % < 90 %: unknown_class {rows} (person)"
    assert line in result.stderr.splitlines(), result.stderr
    assert f"gate_c.json: person: {rows} rows, not in classes" in result.stdout
