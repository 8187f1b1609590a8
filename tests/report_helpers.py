"""Two evaluations of real (untrained) YOLO checkpoints on a hand-made lake with two labelled test videos, and their
report pages: what the report-page, compare and browser tests open."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pandas as pd
from evaluation_helpers import CLASSES, DAY, HEIGHT, VERSION, WIDTH, confident_weights, draw_frames, track_boxes
from helpers import write_clip

from vision_assets.core.records import DatasetVersion

SCENES = ("cam-a", "cam-b")



def build_two_video_lake(tmp_path: Path, root: str | None = None):
    """(lake, dataset record): a test split of frames 0, 4, 8 of two labelled videos, one per scene."""
    from vision_assets.core.lake import Lake, keys
    from vision_assets.core.video.decode import VideoSource

    lake = Lake(root or str(tmp_path / "lake"))
    manifest, labels_all = [], []
    for n, scene in enumerate(SCENES):
        boxes = track_boxes()
        if n:  # the second video's objects sit lower and are bigger: not the same footage twice
            boxes = boxes.assign(y1=boxes["y1"] + 4, y2=boxes["y2"] + 8, x2=boxes["x2"] + 6)
        clip = write_clip(tmp_path / f"clip{n}.mp4", draw_frames(boxes, 11 + n), fps=10)
        video_sha, video_key, _ = lake.put_blob_file(keys.VIDEO_BLOBS, clip, ".mp4")
        partition = {"scene": scene, "day": DAY}
        raw = {"video_sha256": video_sha, "source_name": clip.name, "stored_path": video_key, "outcome": "ok",
               "fps": 10.0, "width": WIDTH, "height": HEIGHT, "lighting": "day" if n == 0 else "night",
               "weather": "rain", "device": f"demo-{n}", "duplicate_of": "",
               "sidecar": json.dumps({"weather": "rain", "mount": "pole" if n == 0 else "wall"})}
        lake.write_table(keys.RAW_VIDEOS, pd.DataFrame([raw]), partition)
        labels = boxes.assign(video_sha256=video_sha, occluded=False, annotator="a", attributes="{}")
        lake.write_table(keys.QC_ANNOTATIONS, labels, partition)
        labels_all.append(labels[labels["frame_index"].isin([0, 4, 8])])
        with VideoSource(clip) as source:
            decoded = {frame.index: frame.bgr for frame in source.frames()}
        for f in (0, 4, 8):
            ok, jpeg = cv2.imencode(".jpg", decoded[f])
            digest, key, _ = lake.put_blob_bytes(keys.FRAME_BLOBS, jpeg.tobytes(), ".jpg")
            manifest.append({"sample_id": f"{video_sha[:16]}_{f:07d}", "frame_sha256": digest,
                             "video_sha256": video_sha, "frame_index": f, "scene": scene, "day": DAY, "split": "test",
                             "label_version": "l1", "n_boxes": int((boxes["frame_index"] == f).sum()),
                             "image_path": key, "width": WIDTH, "height": HEIGHT, "lighting": raw["lighting"],
                             "split_group": video_sha})
    lake.write_table(keys.DATASET_MANIFEST, pd.DataFrame(manifest), {"version": VERSION})
    lake.write_table(keys.DATASET_LABELS, pd.concat(labels_all, ignore_index=True), {"version": VERSION})
    return lake, DatasetVersion(version=VERSION, class_names=CLASSES)


def as_h264(lake, report: dict) -> None:
    """Re-encode each replay to H.264 in place, as the labelling stream's conversion will write them, so a browser
    can play it (OpenCV's mp4v is not a codec browsers decode)."""
    import av

    for key in (report.get("replays") or {}).values():
        path = lake.local_path(key)
        with av.open(str(path)) as source:
            if source.streams.video[0].codec_context.name == "h264":
                continue
            frames = [frame.to_ndarray(format="bgr24") for frame in source.decode(video=0)]
        if frames:
            write_clip(path.with_suffix(".h264.mp4"), frames, fps=10)
            path.with_suffix(".h264.mp4").replace(path)


def two_evaluations(tmp_path: Path, root: str | None = None):
    """(lake, untrained model's evaluation, confident model's evaluation): both on the same two-video test set."""
    from vision_assets.core.evaluation.checkpoint_report import EvaluationConfig, evaluate
    from vision_assets.core.evaluation.inference import InferenceConfig
    from vision_assets.core.training.environment import ultralytics_yolo

    lake, dataset = build_two_video_lake(tmp_path, root)
    untrained = tmp_path / "untrained.pt"
    ultralytics_yolo(tmp_path / "work")("yolov8n.yaml").save(str(untrained))
    config = EvaluationConfig(inference=InferenceConfig(batch=4))
    args = dict(imgsz=64, work_dir=tmp_path / "work", config=config)
    a, _ = evaluate(lake, dataset, untrained, checkpoint_sha256="a1" * 32, **args)
    b, _ = evaluate(lake, dataset, confident_weights(tmp_path), checkpoint_sha256="b2" * 32, **args)
    a, b = a.to_json(), b.to_json()  # the report pages read the evaluation's JSON
    for report in (a, b):
        as_h264(lake, report)
    return lake, a, b
