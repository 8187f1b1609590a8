"""Hard-example mining: the frames a model is least sure about, exported as a labeling queue.

The queue is the ranked frames plus the champion's boxes on them as canonical annotation rows (pre-annotations a
labeler corrects rather than draws), written as import files for Label Studio, CVAT and COCO tools.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from vision_assets.core.labels import write_annotations
from vision_assets.core.labels.formats.common import attributes_text, canonical
from vision_assets.core.mining.queue_layout import COCO_FILE, PREANNOTATION_MIN_SCORE  # noqa: F401 (re-exported)
from vision_assets.core.training import predict


def frame_uncertainty(detections: pd.DataFrame, image_paths: list[str]) -> pd.DataFrame:
    """Per frame: the most ambiguous detection (confidence nearest 0.5 scores 1, near 0 or 1 scores 0)."""
    scores = pd.DataFrame({"image_path": image_paths})
    if detections.empty:
        return scores.assign(uncertainty=0.0, detections=0, max_confidence=0.0)
    ambiguity = 1.0 - np.abs(2.0 * detections["score"] - 1.0)
    per_frame = detections.assign(ambiguity=ambiguity).groupby("image_path").agg(
        uncertainty=("ambiguity", "max"), detections=("score", "size"), max_confidence=("score", "max"))
    scores = scores.join(per_frame, on="image_path")
    return scores.fillna({"uncertainty": 0.0, "detections": 0, "max_confidence": 0.0})


def mine_hard_examples(weights: Path, frames: pd.DataFrame, *, work_dir: Path, imgsz: int, top_k: int = 25,
                       device: str = "auto", min_confidence: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The top_k frames by uncertainty, and the model's detections on those frames (predict's columns)."""
    paths = frames["image_path"].tolist()
    detections = predict(weights, paths, work_dir=work_dir, imgsz=imgsz, device=device, conf=min_confidence)
    scored = frames.merge(frame_uncertainty(detections, paths), on="image_path")
    ranked = scored.sort_values(["uncertainty", "frame_sha256"], ascending=[False, True])
    hard = ranked[ranked["uncertainty"] > 0].head(top_k).reset_index(drop=True)
    return hard, detections[detections["image_path"].isin(hard["image_path"])].reset_index(drop=True)


def queue_annotations(ranked_frames: pd.DataFrame, detections: pd.DataFrame, champion_version: str, *,
                      min_score: float = PREANNOTATION_MIN_SCORE) -> pd.DataFrame:
    """The model's boxes on the queued frames as canonical annotation rows.

    ranked_frames: sampled_frames rows (image_path, video_sha256, frame_index). detections: predict's table
    (image_path, class_name as the model names it, x1..y2 in pixels, score). Boxes under min_score are dropped;
    their frames stay in the queue without boxes. image_name stays "" so the writers name frames the way CVAT names
    a video task's frames (frame_000012); the frame's JPEG in the lake is source_file.
    """
    frames = ranked_frames[["image_path", "video_sha256", "frame_index"]]
    boxes = detections[detections["score"] >= min_score].merge(frames, on="image_path")
    boxes = boxes.sort_values(["video_sha256", "frame_index", "score"], ascending=[True, True, False], kind="stable")
    rows = boxes.assign(
        attributes=[attributes_text({"score": round(float(s), 4)}) for s in boxes["score"]],
        annotator=f"model:v{champion_version}", source_file=boxes["image_path"], source_format="prediction",
    )
    return canonical(rows).reset_index(drop=True)


def write_labeling_queue(rows: pd.DataFrame, frames: pd.DataFrame, out_dir: Path, class_names: list[str], *,
                         video_urls: dict[str, str] | None = None, videos: pd.DataFrame | None = None,
                         task_data: dict[str, dict] | None = None) -> dict[str, Path]:
    """Import files for the queued frames, by their path relative to out_dir, in the layouts the tools import as
    shipped (Datumaro 1.13, FiftyOne, pycocotools, CVAT):

    label_studio.json                 one video task per video, the boxes as predictions
    annotations/instances_default.json  COCO: every queued frame as an image; file_name is relative to images/
                                      (frames' image_path, "images/<name>.jpg" in a queue folder)
    cvat_images/<video_sha256>.xml    CVAT for images per video (the format holds one), for a CVAT task made from
                                      that video: frames named frame_<index>.jpg, as Datumaro finds them under
                                      cvat_images/images/<video_sha256>/ (the caller puts the JPEGs there)

    Every queued frame is in every file, boxes or not. Label Studio's video tasks cannot mark a frame without a
    box, so each task lists its queued frames in data.hard_frames (counted from 1), a video whose queued frames
    have no box still gets a task, and framesCount reaches the last queued frame. Each box is a one-keyframe
    videorectangle on its own frame (not interpolated to any other).

    rows: queue_annotations' output; frames: the queued sampled_frames rows (with width, height, image_path);
    class_names: the labels to declare (the taxonomy). video_urls: {video_sha256: URL Label Studio loads}.
    videos: per video_sha256 its decoded frames_decoded and fps, where known: Label Studio's framesCount is then the
    video's real frame count and each keyframe carries its time. task_data: {video_sha256: fields} added to that
    video's Label Studio task data (the video's hash and rate: what a pull matches tasks by and frameRate reads).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    # A champion trained on an older taxonomy may predict a class since dropped: declare it too, so the file
    # imports and the labeler relabels the box.
    labels = [*class_names, *sorted(set(rows["class_name"]) - set(class_names))]
    queued = frames.drop_duplicates(["video_sha256", "frame_index"]).sort_values(["video_sha256", "frame_index"])
    sizes = {v: (int(w), int(h)) for v, w, h in zip(queued["video_sha256"], queued["width"], queued["height"])}
    counts, rates = _timing(videos, queued)
    files = {
        "label_studio.json": write_annotations(
            rows, "label_studio", out_dir / "label_studio.json", class_names=labels, image_size=sizes,
            video_urls=video_urls, frames_count=counts, fps=rates, as_predictions=True, frames=queued),
    }
    # file_name: the JPEG the queue means (relative to the COCO layout's images/), not a name to match to one.
    (out_dir / "annotations").mkdir(exist_ok=True)
    files[COCO_FILE] = write_annotations(
        rows, "coco", out_dir / COCO_FILE, class_names=labels, image_size=sizes,
        frames=queued.assign(file_name=[str(p).removeprefix("images/") for p in queued["image_path"]]))
    if task_data:
        _add_task_data(files["label_studio.json"], video_urls or {}, task_data)
    (out_dir / "cvat_images").mkdir(exist_ok=True)
    for video, video_frames in queued.groupby("video_sha256", sort=True):
        name = f"cvat_images/{video}.xml"
        # The labels declare no attributes, so the score is left out rather than trusting CVAT with undeclared ones.
        video_rows = rows[rows["video_sha256"] == video].assign(attributes="{}")
        files[name] = write_annotations(video_rows, "cvat_images", out_dir / name, class_names=labels,
                                        image_size=sizes[video], frames=video_frames)
        _name_frames_as_jpegs(files[name])
    return files


def cvat_image_name(frame_index: int) -> str:
    """A frame's name in the queue's CVAT files: CVAT matches it to a video task's frame by its digits, Datumaro
    finds cvat_images/images/<video_sha256>/<name>."""
    return f"frame_{int(frame_index):06d}.jpg"


def _name_frames_as_jpegs(path: Path) -> None:
    import xml.etree.ElementTree as ET

    tree = ET.parse(path)
    for image in tree.getroot().iter("image"):
        image.set("name", cvat_image_name(int(image.get("id"))))
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _add_task_data(path: Path, video_urls: dict[str, str], task_data: dict[str, dict]) -> None:
    video_of = {video_urls.get(v, v): v for v in task_data}
    tasks = json.loads(path.read_text())
    for task in tasks:
        task["data"].update(task_data.get(video_of.get(task["data"]["video"], ""), {}))
    path.write_text(json.dumps(tasks, indent=1))


def _timing(videos: pd.DataFrame | None, queued: pd.DataFrame) -> tuple[dict[str, int], dict[str, float]]:
    if videos is None or videos.empty:
        return {}, {}
    last = queued.groupby("video_sha256")["frame_index"].max().to_dict()
    counts = {v: max(int(n), int(last.get(v, -1)) + 1) for v, n in zip(videos["video_sha256"], videos["frames_decoded"])
              if v in last and n > 0}
    rates = {v: float(fps) for v, fps in zip(videos["video_sha256"], videos["fps"]) if v in last and fps > 0}
    return counts, rates
