"""Label Studio JSON for video object tracking: tasks whose annotations hold `videorectangle` results.

A result is one tracked object: value.sequence lists keyframes {frame (1-based), x, y, width, height (percent of the
frame), enabled}. Like Label Studio's player, a keyframe shows its box on its own frame; while `enabled` the box is
interpolated linearly to the next keyframe, and the last enabled keyframe holds its box to the video's end
(value.framesCount). A keyframe with enabled false ends the span after its own frame. Only human annotations are
read: predictions are a model's suggestions, not labels.

The annotator is the annotation's completed_by (its email, username or id), else the annotator a region's meta
names ("annotator: <name>" in meta.text, where our writer puts it: Label Studio refuses a completed_by that is not one
of its own users, and keeps region meta as written and shows it to the labeller). Label Studio has no occlusion flag:
a keyframe item may carry "occluded": true (our writer's), which holds for the frames its span covers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vision_assets.core.geometry import xywh_to_xyxy, xyxy_to_xywh
from vision_assets.core.labels.formats.common import (
    BOX,
    IMAGE_SIZES,
    AnnotationFormatError,
    ImageSize,
    attributes_text,
    check_frame_reach,
    check_row_budget,
    class_list,
    declared_size,
    empty_table,
    frame_keys,
    load_json,
    per_video,
    size_for,
    writing_order,
)

# Label Studio has no box without a track; our writer names such results with this prefix so they read back as -1.
UNTRACKED_PREFIX = "untracked-"


def read_label_studio(path: Path, *, image_size: tuple[int, int] | None = None, data: Any = None,
              frames_count: int | None = None) -> pd.DataFrame:
    """`image_size` is used only for results that do not carry original_width/original_height; `data`: the file's
    JSON when already loaded."""
    data = load_json(path) if data is None else data
    tasks = [data] if isinstance(data, dict) else data
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise AnnotationFormatError(f"{path}: a Label Studio export is a list of task objects")
    parts, rows = [], 0
    for task in tasks:
        video = _task_video(task)
        for annotation in task.get("annotations") or task.get("completions") or []:
            if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
                continue
            results = annotation.get("result") or []
            # Older exports keep a track's labels in a separate "labels" result with the same id.
            labels_by_id = {r.get("id"): r.get("value", {}).get("labels") for r in results if r.get("type") == "labels"}
            for result in results:
                if str(result.get("type", "")).lower() == "videorectangle":
                    part = _result_rows(path, result, labels_by_id, image_size, video, frames_count, rows)
                    rows += len(part)
                    parts.append(part.assign(annotator=_annotator(annotation)))
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_table().assign(source_format="label_studio")
    df = pd.concat(parts, ignore_index=True).assign(source_file=path.name, source_format="label_studio")
    declared = {declared_size(*_declared_dimensions(r)) for t in tasks for a in _annotations(t) for r in a}
    if len(declared) == 1 and None not in declared:  # rows name no image: one size holds for all, or none is said
        df.attrs[IMAGE_SIZES] = {"": declared.pop()}
    return df


def _annotations(task: dict) -> list[list]:
    """The results of each human annotation of a task (the ones read), for what they declare."""
    entries = task.get("annotations") or task.get("completions") or []
    return [[r for r in e.get("result") or [] if isinstance(r, dict)
             and str(r.get("type", "")).lower() == "videorectangle"]
            for e in entries if isinstance(e, dict) and not e.get("was_cancelled")]


def _declared_dimensions(result: dict) -> tuple:
    value = result.get("value") if isinstance(result.get("value"), dict) else {}
    return (result.get("original_width", value.get("original_width")),
            result.get("original_height", value.get("original_height")))


def _task_video(task: dict) -> str:
    data = task.get("data") if isinstance(task.get("data"), dict) else {}
    video = data.get("video", next((v for v in data.values() if isinstance(v, str)), ""))
    return str(video)


def _annotator(annotation: dict) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        return str(who.get("email") or who.get("username") or who.get("id", ""))
    if who is None and not annotation.get("created_username"):
        return _meta_annotator(annotation.get("result") or [])
    return str(annotation.get("created_username") or who)


ANNOTATOR_META = "annotator: "


def _meta_annotator(results: list) -> str:
    for result in results:
        meta = result.get("meta") if isinstance(result, dict) else None
        lines = meta.get("text") if isinstance(meta, dict) else None
        for line in lines if isinstance(lines, list) else []:
            if isinstance(line, str) and line.startswith(ANNOTATOR_META):
                return line.removeprefix(ANNOTATOR_META)
    return ""


def track_id_for(result_id: str) -> int:
    """Numeric result ids (as written here) are the track id; others map to a stable 31-bit int of their text."""
    if result_id.startswith(UNTRACKED_PREFIX):
        return -1
    if result_id.isdigit():
        return int(result_id)
    return int.from_bytes(hashlib.sha256(result_id.encode()).digest()[:4], "big") & 0x7FFFFFFF


def _result_rows(path: Path, result: dict, labels_by_id: dict, image_size, video: str,
                 frames_count: int | None, rows_before: int = 0) -> pd.DataFrame:
    result_id = str(result.get("id", ""))
    value = result.get("value") if isinstance(result.get("value"), dict) else {}
    where = f"{path}: result {result_id!r}"
    width = result.get("original_width", value.get("original_width"))
    height = result.get("original_height", value.get("original_height"))
    if width is None or height is None:
        if image_size is None:
            raise AnnotationFormatError(f"{where}: no original_width/original_height; pass image_size=(width, height)")
        width, height = image_size
    try:
        keys = _keyframes(value.get("sequence"))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnnotationFormatError(f"{where}: sequence items need numeric frame, x, y, width, height ({exc})") from exc
    declared = value.get("framesCount", value.get("frameCount"))
    declared = int(declared) if isinstance(declared, int | float) and not isinstance(declared, bool) else None
    # Label Studio counts frames from 1: its frame N is our frame N - 1; a held box reaches framesCount.
    if declared is not None:
        check_frame_reach(path, f"result {result_id!r}: framesCount {declared:,}", declared - 1, frames_count)
    if keys:
        check_frame_reach(path, f"result {result_id!r}: keyframe {keys[-1]['frame']:,}", keys[-1]["frame"] - 1,
                          frames_count)
    check_row_budget(path, rows_before + _expanded_rows(keys, declared))  # counted before anything is built
    frames, percent, occluded = _expand(keys, declared)
    labels = value.get("labels") or labels_by_id.get(result.get("id")) or []
    scale = np.array([width, height, width, height], dtype=float) / 100.0
    corners = np.column_stack(xywh_to_xyxy(*percent.T)) * scale
    attrs = {"video": video, "labels": labels} if len(labels) > 1 else {"video": video}
    rotation = {k["rotation"] for k in keys if k["rotation"]}
    if rotation:
        attrs["rotation"] = sorted(rotation)  # boxes are read unrotated; say so
    return pd.DataFrame({
        "frame_index": frames - 1,
        "class_name": str(labels[0]) if labels else "",
        **{c: corners[:, j] for j, c in enumerate(BOX)},
        "track_id": track_id_for(result_id),
        "occluded": occluded,
        "attributes": attributes_text(attrs),
        "source_id": [f"{result_id}:{f}" for f in frames],  # Label Studio's own 1-based frame number
    })


def _keyframes(sequence) -> list[dict]:
    keys: dict[int, dict] = {}
    for item in sequence or []:
        frame = int(item["frame"])
        keys[frame] = {  # a repeated frame: the later item wins
            "frame": frame, "enabled": bool(item.get("enabled", True)), "rotation": float(item.get("rotation", 0) or 0),
            "occluded": item.get("occluded") is True,
            "box": np.array([float(item[k]) for k in ("x", "y", "width", "height")]),
        }
    return [keys[f] for f in sorted(keys)]


def _expanded_rows(keys: list[dict], frames_count: int | None) -> int:
    """How many rows _expand makes of these keyframes."""
    total = 0
    for i, key in enumerate(keys):
        if not key["enabled"]:
            total += 1
        elif i + 1 < len(keys):
            total += keys[i + 1]["frame"] - key["frame"]
        else:
            total += max(key["frame"], frames_count or key["frame"]) + 1 - key["frame"]
    return total


def _expand(keys: list[dict], frames_count: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frames_out, boxes_out, occluded_out = [], [], []
    for i, key in enumerate(keys):
        frame, box = key["frame"], key["box"]
        nxt = keys[i + 1] if i + 1 < len(keys) else None
        if not key["enabled"]:
            end = frame + 1
        elif nxt is not None:
            end = nxt["frame"]
        else:
            end = max(frame, frames_count or frame) + 1
        frames = np.arange(frame, end, dtype=np.int64)
        if key["enabled"] and nxt is not None:
            t = (frames - frame) / (nxt["frame"] - frame)
            boxes = box + (nxt["box"] - box) * t[:, None]
        else:
            boxes = np.broadcast_to(box, (len(frames), 4))
        frames_out.append(frames)
        boxes_out.append(boxes)
        occluded_out.append(np.full(len(frames), key["occluded"]))
    if not frames_out:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 4)), np.zeros(0, dtype=bool)
    return np.concatenate(frames_out), np.concatenate(boxes_out), np.concatenate(occluded_out)


def write_label_studio(
    df: pd.DataFrame,
    dest: Path,
    *,
    class_names: list[str] | None = None,
    image_size: ImageSize = None,
    video_urls: dict[str, str] | None = None,
    frames_count: dict[str, int] | int | None = None,
    fps: dict[str, float] | float | None = None,
    as_predictions: bool = False,
    from_name: str = "box",
    to_name: str = "video",
    frames: pd.DataFrame | None = None,
) -> Path:
    """An import file for a labelling queue: one task per video (data.video from video_urls, else the sha256).

    data.video should be a URL Label Studio can serve (a local-files URL /data/local-files/?d=..., or a web or bucket
    URL); frames_count (the video's real decoded frame count) and fps may be given once or per video_sha256; with fps
    each keyframe carries its time and each result the video's duration.
    Each track becomes one result with id str(track_id) and a keyframe per row; a keyframe stays enabled only when
    the next box is on the next frame, so Label Studio interpolates nothing that was not in the table. Rows without
    a track become one-keyframe results. An occluded row's keyframe carries "occluded": true (Label Studio has no
    such field; this reader reads it). Each annotator's rows are their own annotation of the task; the annotator is
    named in each region's meta ("annotator: <name>"), never in completed_by, which Label Studio only accepts as one
    of its own users' ids (HTTP 400 otherwise); rows without an annotator make one annotation without it.
    `as_predictions` files them as pre-labels to correct instead of annotations, one per annotator with it as
    model_version.
    `frames` (video_sha256, frame_index) are frames to put before the labeller, boxes or not: each of their videos
    gets a task (with one empty annotation when it has no rows), every task lists its frames in data.hard_frames
    (1-based, as Label Studio counts), and framesCount reaches at least the last of them.
    The labelling config needs <Video name="video">, <VideoRectangle name="box"> and <Labels> with the class names.
    """
    rows = writing_order(df)
    class_list(rows, class_names, "Label Studio")  # labels are names; this only checks them
    listed: dict[str, list[int]] = {}
    for video, frame in frame_keys(frames):
        listed.setdefault(video, []).append(frame)
    by_video = dict(iter(rows.groupby("video_sha256", sort=True)))
    tasks = []
    for n, video in enumerate(sorted({*by_video, *listed})):
        video_rows = by_video.get(video, rows.iloc[:0])
        count = per_video(frames_count, video)
        count = max([*video_rows["frame_index"].tolist(), *listed.get(video, [])]) + 1 if count is None else int(count)
        if len(video_rows):
            width, height = size_for(image_size, video, "Label Studio")
        entries = []
        for who, annotator_rows in video_rows.groupby("annotator", sort=True):
            results = [
                _result(result_id, track_rows, width, height, count, per_video(fps, video), from_name, to_name)
                for result_id, track_rows in _results_of(annotator_rows)
            ]
            entry = {"result": results}
            if who and as_predictions:
                entry["model_version"] = who
            elif who:
                for result in results:
                    result["meta"] = {"text": [ANNOTATOR_META + who]}
            entries.append(entry)
        data = {"video": (video_urls or {}).get(video, video)}
        if frames is not None:
            data["hard_frames"] = [frame + 1 for frame in listed.get(video, [])]
        key = "predictions" if as_predictions else "annotations"
        tasks.append({"id": n + 1, "data": data, key: entries or [{"result": []}]})
    dest = Path(dest)
    dest.write_text(json.dumps(tasks, indent=1))
    return dest


def _results_of(rows: pd.DataFrame):
    tracked = rows[rows["track_id"] >= 0]
    classes = tracked.groupby("track_id")["class_name"].nunique()
    if (classes > 1).any():
        raise ValueError(f"a Label Studio result has one label; track {classes[classes > 1].index[0]} has several")
    if tracked.duplicated(["track_id", "frame_index"]).any():
        raise ValueError("a track has one box per frame; some track has several on one frame")
    for track_id, track_rows in tracked.groupby("track_id", sort=True):
        yield str(track_id), track_rows
    untracked = rows[rows["track_id"] < 0]
    for i in range(len(untracked)):
        yield f"{UNTRACKED_PREFIX}{i}", untracked.iloc[[i]]


def _result(result_id, rows, width, height, frames_count, fps, from_name, to_name) -> dict:
    frames = rows["frame_index"].to_numpy() + 1
    occluded = rows["occluded"].tolist()
    # Label Studio's boxes are x, y, width, height in percent of the frame.
    x, y, w, h = xyxy_to_xywh(*(rows[c].to_numpy() for c in BOX))
    x, y, w, h = x / width * 100, y / height * 100, w / width * 100, h / height * 100
    sequence = []
    for i, frame in enumerate(frames.tolist()):
        item = {"frame": frame, "enabled": bool(i + 1 < len(frames) and frames[i + 1] == frame + 1),
                "rotation": 0, "x": float(x[i]), "y": float(y[i]), "width": float(w[i]), "height": float(h[i])}
        if occluded[i]:
            item["occluded"] = True
        if fps:
            item["time"] = (frame - 1) / fps
        sequence.append(item)
    value = {"framesCount": frames_count, "sequence": sequence, "labels": [str(rows["class_name"].iloc[0])]}
    if fps:
        value["duration"] = frames_count / fps
    return {"id": result_id, "type": "videorectangle", "from_name": from_name, "to_name": to_name, "origin": "manual",
            "original_width": int(width), "original_height": int(height), "value": value}
