"""Which format a label file is in, judged from its content (file names lie), and for YOLO from folder structure.

- a folder, or a .yaml/.yml file          -> yolo (data yaml, label txts)
- XML with root <annotations>             -> cvat_video if its first object element is <track>, cvat_images if
                                             <image>; an export with neither goes by meta/task/mode
- JSON object with images/categories      -> coco
- JSON list of tasks, or one task object  -> label_studio
- text whose first line is `f,id,x,y,w,h,...` (commas)      -> mot
- text whose first line is `class cx cy w h` (white space)  -> yolo (a single label txt)
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from vision_assets.core.labels.formats.common import AnnotationFormatError, load_json
from vision_assets.core.labels.formats.yolo import YAML_SUFFIXES

_MOT_LINE = re.compile(rb"^\s*-?\d+(\.\d*)?\s*(,\s*-?[\d.eE+-]+\s*){5,}$")
_YOLO_LINE = re.compile(rb"^\s*\d+(\.0*)?(\s+-?[\d.eE+-]+){4,}\s*$")


def detect_format(path: Path) -> str:
    return detect_and_load(path)[0]


def detect_and_load(path: Path) -> tuple[str, Any]:
    """The format, and for a JSON file its loaded content (None for any other file), which the reader takes as
    `data` instead of loading the file again."""
    path = Path(path)
    if path.is_dir():
        return _detect_folder(path), None
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise AnnotationFormatError(f"{path}: cannot read annotation file ({exc})") from exc
    if path.suffix.lower() in YAML_SUFFIXES:
        return "yolo", None
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        raise AnnotationFormatError(f"{path}: empty file, not an annotation file")
    if text.startswith(b"<"):
        return _detect_xml(path), None
    if text[:1] in (b"{", b"["):
        data = load_json(path)
        return _json_format(path, data), data
    first_line = text.split(b"\n", 1)[0].rstrip(b"\r")
    if _MOT_LINE.match(first_line):
        return "mot", None
    if _YOLO_LINE.match(first_line):
        return "yolo", None
    raise AnnotationFormatError(
        f"{path}: unrecognised annotation format (not CVAT XML, COCO or Label Studio JSON, MOTChallenge "
        f"'frame,id,x,y,w,h,...' or YOLO 'class cx cy w h' lines; the first line, {len(first_line)} bytes, is "
        "neither)"
    )


def _detect_folder(folder: Path) -> str:
    if any(p.suffix.lower() in YAML_SUFFIXES for p in folder.iterdir()) or next(folder.rglob("*.txt"), None):
        return "yolo"
    raise AnnotationFormatError(f"{folder}: folder holds no YOLO data yaml and no label txt files")


def _detect_xml(path: Path) -> str:
    depth, root = 0, None
    try:
        with path.open("rb") as fh:
            for event, el in ET.iterparse(fh, events=("start", "end")):
                if event == "end":
                    depth -= 1
                    continue
                if root is None:
                    root = el
                    if el.tag != "annotations":
                        raise AnnotationFormatError(f"{path}: XML root is <{el.tag}>, not a CVAT <annotations> export")
                elif depth == 1 and el.tag in ("track", "image"):
                    return "cvat_video" if el.tag == "track" else "cvat_images"
                depth += 1
    except ET.ParseError as exc:
        raise AnnotationFormatError(f"{path}: not well-formed XML ({exc})") from exc
    # Nothing annotated: CVAT names image tasks' mode "annotation" and video tasks' "interpolation".
    return "cvat_images" if root is not None and root.findtext("meta//mode") == "annotation" else "cvat_video"


def _json_format(path: Path, data) -> str:
    if isinstance(data, dict):
        if "images" in data or "categories" in data:
            return "coco"
        if "data" in data:
            return "label_studio"
    elif isinstance(data, list):
        first = data[0] if data else {}
        if isinstance(first, dict) and "image_id" in first and "bbox" in first:
            raise AnnotationFormatError(f"{path}: a COCO results list (detections), not annotations")
        if isinstance(first, dict) and (not first or {"data", "annotations", "predictions"} & set(first)):
            return "label_studio"
    raise AnnotationFormatError(
        f"{path}: JSON that is neither a COCO dataset (images, annotations, categories) nor a Label Studio task export"
    )
