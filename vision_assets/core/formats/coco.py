"""COCO detection JSON: images, categories and annotations with `bbox` = [x, y, width, height] in pixels.

Frame of an image: its explicit `frame_index`/`frame_id` field, else the file name's trailing number, else its id.
A track id is read from the annotation's `track_id` (video COCO variants) or `attributes.track_id` (CVAT's COCO).
The annotation's `attributes` object (CVAT's COCO flavour) holds the row's other attributes, and `occluded` and
`annotator` where the writer put them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from vision_assets.core.formats.common import (
    AnnotationFormatError,
    ImageSize,
    attribute_values,
    attributes_text,
    class_list,
    empty_table,
    frame_file_name,
    frame_from_name,
    load_json,
    writing_order,
)


def read_coco(path: Path) -> pd.DataFrame:
    data = load_json(path)
    if isinstance(data, list):
        raise AnnotationFormatError(f"{path}: a list of detections (COCO results file), not a COCO dataset with images")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
        data.get("annotations"), list
    ):
        raise AnnotationFormatError(f"{path}: COCO JSON needs 'images' and 'annotations' lists")
    categories = {c.get("id"): str(c.get("name", "")) for c in data.get("categories") or [] if isinstance(c, dict)}
    images = {img.get("id"): img for img in data["images"] if isinstance(img, dict)}
    rows = [_row(path, ann, images, categories) for ann in data["annotations"]]
    if not rows:
        return empty_table().assign(source_format="coco")
    return pd.DataFrame(rows).assign(source_file=path.name, source_format="coco")


def _row(path: Path, ann, images: dict, categories: dict) -> dict:
    ann_id = ann.get("id") if isinstance(ann, dict) else None
    where = f"{path}: annotation {ann_id}"
    if not isinstance(ann, dict):
        raise AnnotationFormatError(f"{path}: an annotation is not a JSON object: {str(ann)[:80]}")
    image = images.get(ann.get("image_id"))
    if image is None:
        raise AnnotationFormatError(f"{where}: image_id {ann.get('image_id')!r} is not in 'images'")
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)):
        raise AnnotationFormatError(f"{where}: bbox must be [x, y, width, height] numbers, got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    extra = ann.get("attributes") if isinstance(ann.get("attributes"), dict) else {}
    track = ann.get("track_id", extra.get("track_id"))
    category = ann.get("category_id")
    area = ann.get("area")
    return {
        "frame_index": _frame(where, image),
        "class_name": categories.get(category, ""),
        "x1": x, "y1": y, "x2": x + w, "y2": y + h,
        "track_id": int(track) if isinstance(track, int | float) and not isinstance(track, bool) else -1,
        "occluded": bool(extra.get("occluded", False)),
        "annotator": str(extra.get("annotator") or ""),
        "attributes": attributes_text(_attributes(ann, image, extra)),
        "source_id": str(ann_id),
        "image_name": str(image.get("file_name", "")),
        "class_id": int(category) if isinstance(category, int | float) else -1,
        "declared_area": float(area) if isinstance(area, int | float) else math.nan,
    }


# Keys of an annotation's `attributes` that are columns of the table, not attributes.
_IN_COLUMNS = ("track_id", "occluded", "annotator")
# Attributes the reader derives from the annotation's own fields (iscrowd, score) or its mask and image
# (segmentation, video), so the writer does not repeat them in `attributes`.
_DERIVED = ("iscrowd", "score", "segmentation", "video")


def _frame(where: str, image: dict) -> int:
    for key in ("frame_index", "frame_id"):
        if isinstance(image.get(key), int | float):
            return int(image[key])
    from_name = frame_from_name(str(image.get("file_name", "")))
    if from_name is not None:
        return from_name
    if isinstance(image.get("id"), int):
        return image["id"]
    raise AnnotationFormatError(f"{where}: image {image.get('id')!r} has no frame field, numbered name or integer id")


def _attributes(ann: dict, image: dict, extra: dict) -> dict:
    attrs = {k: v for k, v in extra.items() if k not in _IN_COLUMNS}
    attrs["iscrowd"] = int(ann.get("iscrowd", 0) or 0)
    seg = ann.get("segmentation")
    if seg:
        # Boxes are what this table holds; the mask's presence and kind tell QC and users what else the file has.
        attrs["segmentation"] = "rle" if isinstance(seg, dict) else "polygon"
    if "score" in ann:
        attrs["score"] = ann["score"]
    video = image.get("video", image.get("video_name"))
    if video is not None:
        attrs["video"] = video
    return attrs


def write_coco(
    df: pd.DataFrame, dest: Path, *, class_names: list[str] | None = None, image_size: ImageSize = None
) -> Path:
    """One image per (video, frame) with explicit `frame_index` and `video` (the video_sha256) fields; category ids
    1..N follow class_names; ids follow a row order that ignores the input's order.

    `area` is the declared_area when the row has one, else the box area; `iscrowd` and `score` come from the row's
    attributes; its other attributes, `occluded` and its annotator go into the annotation's `attributes` object.
    """
    rows = writing_order(df)
    names = class_list(rows, class_names, "COCO")
    category_id = {name: i + 1 for i, name in enumerate(names)}
    several_videos = rows["video_sha256"].nunique() > 1

    images, image_id = [], {}
    # Rows are sorted by (video, frame): the first row of each pair names its image.
    firsts = rows.drop_duplicates(["video_sha256", "frame_index"])
    for video, frame, image_name in zip(firsts["video_sha256"], firsts["frame_index"].tolist(), firsts["image_name"]):
        file_name = frame_file_name(image_name, frame, ".jpg")
        image = {"id": len(images) + 1, "file_name": f"{video}/{file_name}" if several_videos else file_name,
                 "frame_index": frame}
        if video:
            image["video"] = video
        size = image_size.get(video) if isinstance(image_size, dict) else image_size
        if size is not None:
            image["width"], image["height"] = int(size[0]), int(size[1])
        images.append(image)
        image_id[(video, frame)] = image["id"]

    annotations = []
    columns = ["video_sha256", "frame_index", "class_name", "x1", "y1", "x2", "y2", "track_id", "occluded",
               "attributes", "annotator", "declared_area"]
    for i, (video, frame, name, x1, y1, x2, y2, track, occluded, attributes, who, area) in enumerate(
        zip(*(rows[c].tolist() for c in columns))
    ):
        w, h = x2 - x1, y2 - y1
        values = attribute_values(attributes)
        ann = {"id": i + 1, "image_id": image_id[(video, frame)], "category_id": category_id[name],
               "bbox": [x1, y1, w, h], "area": w * h if math.isnan(area) else area,
               "iscrowd": _iscrowd(values.get("iscrowd")), "segmentation": []}
        if "score" in values:
            ann["score"] = values["score"]
        if track >= 0:
            ann["track_id"] = track
        extra = {k: v for k, v in values.items() if k not in _DERIVED and k not in _IN_COLUMNS}
        if occluded:
            extra["occluded"] = True
        if who:
            extra["annotator"] = who
        if extra:
            ann["attributes"] = extra
        annotations.append(ann)

    categories = [{"id": category_id[n], "name": n, "supercategory": ""} for n in names]
    dest = Path(dest)
    dest.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}, indent=1))
    return dest


def _iscrowd(value) -> int:
    """COCO's iscrowd is 0 or 1; an attribute read from elsewhere may say it as true or "1"."""
    if isinstance(value, str):
        return int(value.strip().lower() in ("1", "true", "yes"))
    try:
        return int(bool(value)) if value is not None else 0
    except (TypeError, ValueError):
        return 0
