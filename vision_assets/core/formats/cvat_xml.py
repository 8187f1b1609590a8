"""Parts both CVAT 1.1 XML flavours share: the <annotations> root, the <meta> block and <attribute> children."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from vision_assets.core.formats.common import AnnotationFormatError, attribute_values


def parse_root(path: Path) -> ET.Element:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise AnnotationFormatError(f"{path}: not well-formed XML ({exc})") from exc
    if root.tag != "annotations":
        raise AnnotationFormatError(f"{path}: XML root is <{root.tag}>, expected CVAT <annotations>")
    return root


def annotator(root: ET.Element) -> str:
    # The assignee did the labelling; the owner only created the task, so it is the fallback.
    for el in (root.find("meta//assignee"), root.find("meta//owner")):
        if el is not None:
            name = (el.findtext("username") or el.text or "").strip()
            if name:
                return name
    return ""


def element_attributes(el: ET.Element) -> dict[str, str]:
    return {a.get("name"): (a.text or "") for a in el.findall("attribute")}


def box_corners(el: ET.Element) -> list[float]:
    return [float(el.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")]


def new_document(mode: str, class_names: list[str], meta: dict[str, str]) -> ET.Element:
    """<annotations> with the <meta><task> CVAT needs to map labels on import."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    ET.SubElement(task, "mode").text = mode
    for key, value in meta.items():
        ET.SubElement(task, key).text = value
    labels = ET.SubElement(task, "labels")
    for name in class_names:
        ET.SubElement(ET.SubElement(labels, "label"), "name").text = name
    return root


def add_attribute_elements(el: ET.Element, attributes_json: str) -> None:
    for name, value in attribute_values(attributes_json).items():
        # CVAT attribute values are text; JSON keeps true/1.5 readable and parseable.
        ET.SubElement(el, "attribute", name=str(name)).text = value if isinstance(value, str) else json.dumps(value)


def corner_attributes(x1: float, y1: float, x2: float, y2: float) -> dict[str, str]:
    # repr keeps every digit, so a read-back box equals the written one exactly.
    return {"xtl": repr(float(x1)), "ytl": repr(float(y1)), "xbr": repr(float(x2)), "ybr": repr(float(y2))}


def save(root: ET.Element, dest: Path) -> Path:
    ET.indent(root)
    dest = Path(dest)
    ET.ElementTree(root).write(dest, encoding="utf-8", xml_declaration=True)
    return dest
