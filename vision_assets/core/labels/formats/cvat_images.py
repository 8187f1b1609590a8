"""CVAT for images 1.1 XML: <image id name width height> elements holding <box label xtl ytl xbr ybr occluded>.

The frame is the image name's trailing number (CVAT names video frames "frame_000012"), else the image id (CVAT's
frame number in the task). Only <box> shapes yield rows. Attribute values and the annotator: see cvat_xml.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import Any

import pandas as pd

from vision_assets.core.labels.formats.common import (
    IMAGE_SIZES,
    AnnotationFormatError,
    attributes_text,
    class_list,
    declared_size,
    empty_table,
    frame_file_name,
    frame_from_name,
    frame_keys,
    one_video,
    writing_order,
)
from vision_assets.core.labels.formats.cvat_xml import (
    add_attribute_elements,
    annotator,
    box_corners,
    corner_attributes,
    element_attributes,
    new_document,
    parse_root,
    save,
    set_values,
    single_annotator,
)


def read_cvat_images(path: Path, *, image_size: tuple[int, int] | None = None, data: Any = None,
              frames_count: int | None = None) -> pd.DataFrame:
    """Boxes are pixels, so `image_size` is not needed; `data` is unused (only JSON is loaded ahead). The sizes the
    <image>s declare go to df.attrs[IMAGE_SIZES] by image name."""
    root = parse_root(path)
    images = root.findall("image")
    if not images and root.find("track") is not None:
        raise AnnotationFormatError(f"{path}: this is a CVAT *for video* export (<track> elements), not CVAT for images")
    rows = [row for image in images for row in _image_rows(path, image)]
    if rows:
        df = pd.DataFrame(rows).assign(annotator=annotator(root), source_file=path.name, source_format="cvat_images")
    else:
        df = empty_table().assign(source_format="cvat_images")
    declared = ((i.get("name", ""), declared_size(i.get("width"), i.get("height"))) for i in images)
    df.attrs[IMAGE_SIZES] = {name: size for name, size in declared if size}
    return df


def _image_rows(path: Path, image: ET.Element) -> list[dict]:
    image_id, name = image.get("id"), image.get("name", "")
    try:
        frame = frame_from_name(name)
        frame = int(image_id) if frame is None else frame
    except (TypeError, ValueError) as exc:
        raise AnnotationFormatError(f"{path}: <image name={name!r}> has no frame number in its name and no valid id") from exc
    rows = []
    for n, box in enumerate(image.findall("box")):
        try:
            x1, y1, x2, y2 = box_corners(box)
            track_id = int(box.get("track_id", -1))
        except (TypeError, ValueError) as exc:
            raise AnnotationFormatError(f"{path}: image {image_id} box {n}: missing or bad xtl/ytl/xbr/ybr ({exc})") from exc
        rows.append({
            "frame_index": frame, "class_name": box.get("label", ""), "x1": x1, "y1": y1, "x2": x2, "y2": y2,
            "track_id": track_id, "occluded": box.get("occluded", "0") == "1",
            "attributes": attributes_text(set_values(element_attributes(box))),
            "source_id": f"shape{box.get('id')}" if box.get("id") else f"image{image_id}:box{n}",
            "image_name": name,
        })
    return rows


def write_cvat_images(
    df: pd.DataFrame,
    dest: Path,
    *,
    class_names: list[str] | None = None,
    image_size: tuple[int, int] | None = None,
    frames: pd.DataFrame | None = None,
) -> Path:
    """One <image> per frame (id = frame index). Boxes of a track carry a `track_id` attribute, which CVAT ignores
    on import but this reader keeps. The rows' annotator is the task's assignee; rows of several are refused.
    `frames` (video_sha256, frame_index) are frames to write as images even without rows (of the rows' video)."""
    keys = frame_keys(frames)
    one_video(pd.DataFrame({"video_sha256": [*df["video_sha256"], *(video for video, _ in keys)]}), "CVAT for images")
    rows = writing_order(df)
    who = single_annotator(rows, "CVAT for images")
    root = new_document("annotation", class_list(rows, class_names, "CVAT for images"), {}, who)
    size = {} if image_size is None else {"width": str(image_size[0]), "height": str(image_size[1])}
    # Rows are sorted by frame, so each frame's boxes are one consecutive run.
    runs = {frame: list(run) for frame, run in groupby(rows.itertuples(index=False), key=attrgetter("frame_index"))}
    for frame in sorted({*runs, *(frame for _, frame in keys)}):
        run = runs.get(frame, [])
        name = frame_file_name(run[0].image_name if run else "", frame)
        image = ET.SubElement(root, "image", id=str(frame), name=name, **size)
        for row in run:
            extra = {"track_id": str(row.track_id)} if row.track_id >= 0 else {}
            box = ET.SubElement(image, "box", label=row.class_name, occluded=str(int(row.occluded)),
                                **corner_attributes(row.x1, row.y1, row.x2, row.y2), z_order="0", **extra)
            add_attribute_elements(box, row.attributes)
    return save(root, dest)
