"""Labels coming back for a monitored scene-day, and the champion's online precision and recall on them computed
without the project's code: Ultralytics' own predict at the served operating point, pycocotools' matching."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

MIN_PERSON_AREA = 40  # pixels of a 320x240 frame: a walking person is larger, noise smaller
MAX_SAME_OBJECT_IOU = 0.85  # a labeller keeps one box per object


def moving_objects(images: list[np.ndarray]) -> list[list[tuple[float, float, float, float]]]:
    """Per image, xyxy boxes of what moves against the median of all images (a static camera: its people)."""
    grey = [cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) for image in images]
    background = np.median(np.stack(grey), axis=0).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    boxes = []
    for frame in grey:
        mask = (cv2.absdiff(frame, background) > 30).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes.append([(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h, area in stats[1:count]
                      if area >= MIN_PERSON_AREA and w >= 3 and h >= 3])
    return boxes


def served_predictions(weights: Path, paths: list[str], served: dict) -> list[list[tuple]]:
    """Per image, (class name, x1, y1, x2, y2, score) as the package serves: Ultralytics' predict with its conf,
    NMS IoU, max_det and imgsz."""
    from ultralytics import YOLO

    model = YOLO(str(weights))
    out = []
    for result in model.predict(paths, imgsz=int(served["imgsz"]), conf=float(served["conf"]),
                                iou=float(served["iou"]), max_det=int(served["max_det"]), verbose=False, save=False):
        boxes = result.boxes
        out.append([(model.names[int(c)], *map(float, xyxy), float(s)) for xyxy, s, c in
                    zip(boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy())])
    return out


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def labeller_boxes(moving: list[tuple]) -> list[tuple]:
    """One frame as a labeller returns it: every moving person drawn as a pedestrian, one box per object."""
    chosen: list[tuple] = []
    for box in [("pedestrian", *box) for box in moving]:
        if all(_iou(box[1:], kept[1:]) < MAX_SAME_OBJECT_IOU for kept in chosen):
            chosen.append(box)
    return chosen


def write_coco(path: Path, frames: list[dict], labels: list[list[tuple]], classes: list[str]) -> None:
    """A COCO file for one video: an image per sampled frame (its 0-based frame_index), a box per label."""
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(classes)]
    ids = {name: i + 1 for i, name in enumerate(classes)}
    images, annotations = [], []
    for image_id, (frame, boxes) in enumerate(zip(frames, labels), start=1):
        images.append({"id": image_id, "file_name": f"frame_{frame['frame_index']:06d}.jpg",
                       "frame_index": int(frame["frame_index"]), "width": frame["width"], "height": frame["height"]})
        for name, x1, y1, x2, y2 in boxes:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": ids[name],
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))


def pycocotools_counts(labels: list[list[tuple]], predictions: list[list[tuple]], classes: list[str],
                       max_det: int) -> dict:
    """TP, FP, FN per class and overall at IoU 0.5 from COCOeval's own matching (evaluateImg: per image and
    class, detections by score take the best unmatched ground truth)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ids = {name: i + 1 for i, name in enumerate(classes)}
    gt = {"images": [{"id": i + 1} for i in range(len(labels))], "categories": [{"id": v} for v in ids.values()],
          "annotations": [{"id": n + 1, "image_id": i + 1, "category_id": ids[c], "bbox": [x1, y1, x2 - x1, y2 - y1],
                           "area": (x2 - x1) * (y2 - y1), "iscrowd": 0}
                          for n, (i, (c, x1, y1, x2, y2)) in enumerate((i, b) for i, bs in enumerate(labels) for b in bs)]}
    dt = [{"image_id": i + 1, "category_id": ids[c], "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s}
          for i, boxes in enumerate(predictions) for c, x1, y1, x2, y2, s in boxes]
    coco, empty = COCO(), COCO()
    coco.dataset, empty.dataset = gt, {**gt, "annotations": []}
    coco.createIndex()
    empty.createIndex()
    evaluator = COCOeval(coco, coco.loadRes(dt) if dt else empty, "bbox")
    evaluator.params.iouThrs = np.array([0.5])
    evaluator.params.maxDets = [max_det]
    evaluator.params.areaRng, evaluator.params.areaRngLbl = [[0, 1e10]], ["all"]
    evaluator.evaluate()
    names = {v: k for k, v in ids.items()}
    counts = {name: {"tp": 0, "fp": 0, "fn": 0} for name in classes}
    for record in evaluator.evalImgs:
        if record is None:
            continue
        name = names[record["category_id"]]
        matched = record["dtMatches"][0] > 0
        counts[name]["tp"] += int(matched.sum())
        counts[name]["fp"] += int((~matched).sum())
        counts[name]["fn"] += int((record["gtMatches"][0] == 0).sum())
    counts["all"] = {k: sum(counts[c][k] for c in classes) for k in ("tp", "fp", "fn")}
    return counts


def champion_package(registry, champion, work: Path) -> tuple[Path, dict]:
    """The champion's weights and the operating point its package serves with (its inference_config.json)."""
    package = Path(registry.download("vision_assets_detector", champion.version, work))
    return next(package.rglob("*.pt")), json.loads(next(package.rglob("inference_config.json")).read_text())


def sampled_frames(lake, scene: str, day: str, work: Path):
    from vision_assets.core.lake import keys

    frames = lake.read_table(keys.SAMPLED_FRAMES, {"scene": scene, "day": day}).sort_values("frame_index")
    return frames, [str(lake.local_copy(key, work / "frames")) for key in frames["image_path"]]


def return_campus_labels(lake, served: dict, scene: str, day: str, landing: Path, work: Path) -> list[list[tuple]]:
    """The labeller's answer for a queued scene-day of one static camera's video, dropped where the label drop
    sensor looks: every person walking in its sampled frames."""
    from vision_assets.core.lake import keys

    frames, paths = sampled_frames(lake, scene, day, work)
    assert frames["video_sha256"].nunique() == 1
    images = [cv2.imread(path) for path in paths]
    labels = [labeller_boxes(boxes) for boxes in moving_objects(images)]
    rows = [{"frame_index": int(f), "height": image.shape[0], "width": image.shape[1]}
            for f, image in zip(frames["frame_index"], images)]
    video = lake.read_table(keys.RAW_VIDEOS, {"scene": scene, "day": day})
    stem = Path(video.loc[video["video_sha256"] == frames["video_sha256"].iloc[0], "source_path"].iloc[0]).stem
    write_coco(landing / "annotations" / scene / day / f"{stem}.json", rows, labels, list(served["class_names"]))
    return labels


def imported_labels(lake, scene: str, day: str, work: Path) -> tuple[list[str], list[list[tuple]]]:
    """The sampled frames whose labels QC left complete (as README "QC rules" says training takes them: a frame
    that lost a box is left out, a rejected duplicate box leaves it whole), their local files and, per frame, the
    boxes QC kept for it."""
    from vision_assets.core.lake import keys

    partition = {"scene": scene, "day": day}
    rejected = lake.read_table(keys.QC_REJECTED, partition)
    lost = set() if rejected is None else {
        (v, int(f)) for v, f, reasons in zip(rejected["video_sha256"], rejected["frame_index"], rejected["reasons"])
        if not set(reasons.split(";")) <= {"duplicate_box", "track_duplicate_in_frame"}}
    frames, paths = sampled_frames(lake, scene, day, work)
    whole = [(v, int(f)) not in lost for v, f in zip(frames["video_sha256"], frames["frame_index"])]
    frames, paths = frames[whole], [p for p, keep in zip(paths, whole) if keep]
    kept = lake.read_table(keys.QC_ANNOTATIONS, partition)
    boxes = {key: list(zip(group["class_name"], group["x1"], group["y1"], group["x2"], group["y2"]))
             for key, group in kept.groupby(["video_sha256", "frame_index"])}
    return paths, [boxes.get((v, int(f)), []) for v, f in zip(frames["video_sha256"], frames["frame_index"])]


def retrain_request(defs, instance):
    """One evaluation of the retrain sensor, its run requests returned rather than launched (no training here)."""
    import dagster as dg

    sensor = defs.resolve_sensor_def("retrain_sensor")
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=defs.resources) as context:
        return sensor(context)
