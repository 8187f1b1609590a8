"""COCO detection JSON: images, categories and annotations with `bbox` = [x, y, width, height] in pixels.

Frame of an image: its explicit `frame_index`/`frame_id` field (0-based), else the file name's trailing number, else
its id. Names are read as 0-based frame numbers (frame_000012.jpg is frame 12, as this package writes them), except
where the file itself shows they count from 1: read with its video's frame count, a file whose named images reach
exactly that count and none is numbered 0 (N images named 1..N for an N-frame video, as `ffmpeg -i v.mp4 %06d.jpg`
writes them) is read 1-based, every named frame moved one earlier, and the correction is recorded: in
df.attrs["corrections"] (the import report) and as FRAMES_NUMBERED_FROM_1 in every row's file_findings (the label
version).
A track id is read from the annotation's `track_id` (video COCO variants) or `attributes.track_id` (CVAT's COCO).
The annotation's `attributes` object (CVAT's COCO flavour) holds the row's other attributes, and `occluded` and
`annotator` where the writer put them.

The source's own ids and geometry are kept, so COCO written from COCO is the same dataset: the annotation id is
source_id, the category id class_id, and the row's attributes keep the image id (`coco_image_id`) and the mask
(`coco_segmentation`, polygons or RLE as the file has them); results files keyed to the source ids still match.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from vision_assets.core.geometry import xywh_to_xyxy, xyxy_to_xywh
from vision_assets.core.labels.formats.common import (
    IMAGE_SIZES,
    AnnotationFormatError,
    ImageSize,
    attribute_values,
    attributes_text,
    class_list,
    declared_size,
    empty_table,
    frame_file_name,
    frame_from_name,
    frame_keys,
    load_json,
    per_video,
    writing_order,
)


def read_coco(path: Path, *, image_size: tuple[int, int] | None = None, data: Any = None,
              frames_count: int | None = None) -> pd.DataFrame:
    """`data`: the file's JSON when already loaded. Boxes are pixels, so `image_size` is not needed. The sizes the
    images declare go to df.attrs[IMAGE_SIZES] by file_name."""
    data = load_json(path) if data is None else data
    if isinstance(data, list):
        raise AnnotationFormatError(f"{path}: a list of detections (COCO results file), not a COCO dataset with images")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
        data.get("annotations"), list
    ):
        raise AnnotationFormatError(f"{path}: COCO JSON needs 'images' and 'annotations' lists")
    categories = {c.get("id"): str(c.get("name", "")) for c in data.get("categories") or [] if isinstance(c, dict)}
    images = {img.get("id"): img for img in data["images"] if isinstance(img, dict)}
    one_based = _names_count_from_one(images.values(), frames_count)
    rows = [_row(path, ann, images, categories, one_based) for ann in data["annotations"]]
    if rows:
        df = pd.DataFrame(rows).assign(source_file=path.name, source_format="coco")
    else:
        df = empty_table().assign(source_format="coco")
    if one_based:
        df = df.assign(file_findings=FRAMES_NUMBERED_FROM_1)
        df.attrs["corrections"] = [f"image names count frames from 1 (their numbers run up to {frames_count}, the "
                                   f"video's frame count, and none is 0): read 1-based, every frame moved one earlier"]
    declared = ((str(i.get("file_name", "")), declared_size(i.get("width"), i.get("height")))
                for i in data["images"] if isinstance(i, dict))
    df.attrs[IMAGE_SIZES] = {name: size for name, size in declared if size}
    return df


# file_findings mark of rows whose frames were read from image names numbered from 1.
FRAMES_NUMBERED_FROM_1 = "frames_numbered_from_1"


def _names_count_from_one(images, frames_count: int | None) -> bool:
    """Whether the images whose frame comes from their name count from 1: their numbers reach exactly the video's
    frame count (one past its last 0-based frame) and none is 0. Without the count nothing can be told."""
    if not frames_count:
        return False
    numbers = [frame_from_name(str(i.get("file_name", ""))) for i in images if _explicit_frame(i) is None]
    numbers = [n for n in numbers if n is not None]
    return bool(numbers) and min(numbers) >= 1 and max(numbers) == frames_count


def _explicit_frame(image: dict):
    return next((image[k] for k in ("frame_index", "frame_id") if isinstance(image.get(k), int | float)), None)


def _row(path: Path, ann, images: dict, categories: dict, one_based: bool = False) -> dict:
    ann_id = ann.get("id") if isinstance(ann, dict) else None
    where = f"{path}: annotation {ann_id}"
    if not isinstance(ann, dict):
        raise AnnotationFormatError(f"{path}: an annotation is not a JSON object: {str(ann)[:80]}")
    image = images.get(ann.get("image_id"))
    if image is None:
        raise AnnotationFormatError(f"{where}: image_id {ann.get('image_id')!r} is not in 'images'")
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        raise AnnotationFormatError(f"{where}: bbox must be [x, y, width, height] numbers, got {str(bbox)[:80]}")
    x1, y1, x2, y2 = xywh_to_xyxy(*(float(v) for v in bbox))
    extra = ann.get("attributes") if isinstance(ann.get("attributes"), dict) else {}
    track = ann.get("track_id", extra.get("track_id"))
    category = ann.get("category_id")
    area = ann.get("area")
    for name, value in (("category_id", category), ("track_id", track), ("area", area)):
        if isinstance(value, bool):  # JSON true is not the number 1: a writer that meant a number wrote something else
            raise AnnotationFormatError(f"{where}: {name} must be a number, got {json.dumps(value)}")
    return {
        "frame_index": _frame(where, image, one_based),
        "class_name": categories.get(category, ""),
        "x1": x1, "y1": y1, "x2": x2, "y2": y2,
        "track_id": int(track) if isinstance(track, int | float) and not isinstance(track, bool) else -1,
        "occluded": bool(extra.get("occluded", False)),
        "annotator": str(extra.get("annotator") or ""),
        "attributes": attributes_text(_attributes(ann, image, extra)),
        "source_id": str(ann_id),
        "image_name": str(image.get("file_name", "")),
        "class_id": int(category) if isinstance(category, int | float) else -1,
        "declared_area": float(area) if isinstance(area, int | float) else math.nan,
    }


# Attributes that keep what COCO has beyond a box, so that the writer gives it back.
KEPT_IMAGE_ID = "coco_image_id"
KEPT_SEGMENTATION = "coco_segmentation"
# Keys of an annotation's `attributes` that are columns of the table, not attributes.
_IN_COLUMNS = ("track_id", "occluded", "annotator")
# Attributes the reader derives from the annotation's own fields (iscrowd, score) or its mask and image
# (segmentation, video), so the writer does not repeat them in `attributes`.
_DERIVED = ("iscrowd", "score", "segmentation", "video", KEPT_IMAGE_ID, KEPT_SEGMENTATION)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _frame(where: str, image: dict, one_based: bool = False) -> int:
    for key in ("frame_index", "frame_id"):
        if isinstance(image.get(key), bool):
            raise AnnotationFormatError(f"{where}: image {key} must be a number, got {json.dumps(image[key])}")
        if isinstance(image.get(key), int | float):
            return int(image[key])
    from_name = frame_from_name(str(image.get("file_name", "")))
    if from_name is not None:
        return from_name - 1 if one_based else from_name
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
        attrs[KEPT_SEGMENTATION] = seg
    if isinstance(image.get("id"), int) and not isinstance(image.get("id"), bool):
        attrs[KEPT_IMAGE_ID] = image["id"]
    if "score" in ann:
        attrs["score"] = ann["score"]
    video = image.get("video", image.get("video_name"))
    if video is not None:
        attrs["video"] = video
    return attrs


def write_coco(
    df: pd.DataFrame,
    dest: Path,
    *,
    class_names: list[str] | None = None,
    image_size: ImageSize = None,
    frames: pd.DataFrame | None = None,
) -> Path:
    """One image per (video, frame) with explicit `frame_index` and `video` (the video_sha256) fields; category ids
    1..N follow class_names; ids follow a row order that ignores the input's order. Rows read from COCO keep their
    source's annotation, image and category ids and their segmentation (see the module's docstring) where those
    are consistent; new images and classes get ids above the kept ones.

    `area` is the declared_area when the row has one, else the box area; `iscrowd` and `score` come from the row's
    attributes; its other attributes, `occluded` and its annotator go into the annotation's `attributes` object.

    `frames` (video_sha256, frame_index, optionally file_name) are frames to list as images even without rows;
    a file_name given there names the image as it is (the image's own path, say).
    """
    rows = writing_order(df)
    names = class_list(rows, class_names, "COCO")
    values_of = [attribute_values(a) for a in rows["attributes"]]
    category_id = _kept_category_ids(rows, names)

    # The first row of each (video, frame) names its image; a frame without rows gets the name of its number.
    firsts = rows.drop_duplicates(["video_sha256", "frame_index"])
    file_names = {(video, frame): frame_file_name(image_name, frame, ".jpg") for video, frame, image_name
                  in zip(firsts["video_sha256"], firsts["frame_index"].tolist(), firsts["image_name"])}
    for key in frame_keys(frames):
        file_names.setdefault(key, frame_file_name("", key[1], ".jpg"))
    if len({video for video, _ in file_names}) > 1:
        file_names = {(video, frame): f"{video}/{name}" for (video, frame), name in file_names.items()}
    if frames is not None and "file_name" in frames:
        keys = zip(frames["video_sha256"], frames["frame_index"].map(int))
        file_names.update(zip(keys, frames["file_name"].map(str)))

    images, image_id = [], _kept_image_ids(rows, values_of)
    next_image = max(image_id.values(), default=0) + 1
    for video, frame in sorted(file_names):
        if (video, frame) not in image_id:
            image_id[(video, frame)], next_image = next_image, next_image + 1
        image = {"id": image_id[(video, frame)], "file_name": file_names[video, frame], "frame_index": frame}
        if video:
            image["video"] = video
        size = per_video(image_size, video)
        if size is not None:
            image["width"], image["height"] = int(size[0]), int(size[1])
        images.append(image)
    annotation_ids = _kept_annotation_ids(rows)

    annotations = []
    columns = ["video_sha256", "frame_index", "class_name", "x1", "y1", "x2", "y2", "track_id", "occluded",
               "annotator", "declared_area"]
    for i, (video, frame, name, x1, y1, x2, y2, track, occluded, who, area) in enumerate(
        zip(*(rows[c].tolist() for c in columns))
    ):
        x, y, w, h = xyxy_to_xywh(x1, y1, x2, y2)
        values = values_of[i]
        ann = {"id": annotation_ids[i], "image_id": image_id[(video, frame)], "category_id": category_id[name],
               "bbox": [x, y, w, h], "area": w * h if math.isnan(area) else area,
               "iscrowd": _iscrowd(values.get("iscrowd")), "segmentation": values.get(KEPT_SEGMENTATION) or []}
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


def _from_coco(rows: pd.DataFrame) -> bool:
    return len(rows) > 0 and bool((rows["source_format"] == "coco").all())


def _kept_category_ids(rows: pd.DataFrame, names: list[str]) -> dict[str, int]:
    """The source's category ids when the rows came from COCO and name each class with one id; else 1..N."""
    kept = rows.groupby("class_name")["class_id"].agg(["min", "max"]) if _from_coco(rows) else None
    if kept is None or (kept["min"] != kept["max"]).any() or (kept["min"] < 0).any() or not kept["min"].is_unique:
        return {name: i + 1 for i, name in enumerate(names)}
    ids = {name: int(v) for name, v in kept["min"].items()}
    for name in names:
        if name not in ids:
            ids[name] = max(ids.values()) + 1
    return ids


def _kept_image_ids(rows: pd.DataFrame, values: list[dict]) -> dict[tuple[str, int], int]:
    """(video, frame) -> the source's image id, when every row has one and frames and ids pair one to one."""
    if not _from_coco(rows) or any(not isinstance(v.get(KEPT_IMAGE_ID), int) for v in values):
        return {}
    pairs = set(zip(rows["video_sha256"], rows["frame_index"].tolist(), (v[KEPT_IMAGE_ID] for v in values)))
    by_frame = {(video, frame): image for video, frame, image in pairs}
    if len(by_frame) != len(pairs) or len(set(by_frame.values())) != len(by_frame):
        return {}
    return by_frame


def _kept_annotation_ids(rows: pd.DataFrame) -> list[int]:
    """The source's annotation ids when the rows came from COCO with unique integer ids; else 1..N."""
    ids = rows["source_id"].tolist()
    if _from_coco(rows) and all(i.isdigit() for i in ids) and len(set(ids)) == len(ids):
        return [int(i) for i in ids]
    return list(range(1, len(rows) + 1))


def _iscrowd(value) -> int:
    """COCO's iscrowd is 0 or 1; an attribute read from elsewhere may say it as true or "1"."""
    if isinstance(value, str):
        return int(value.strip().lower() in ("1", "true", "yes"))
    try:
        return int(bool(value)) if value is not None else 0
    except (TypeError, ValueError):
        return 0
