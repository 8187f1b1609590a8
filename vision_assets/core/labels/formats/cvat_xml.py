"""Parts both CVAT 1.1 XML flavours share: the <annotations> root, the <meta> block and <attribute> children.

Attribute values: CVAT's are text. A value this package writes that is not a non-empty string (true, 1.5, a list,
"") is written as JSON and marked json="1", which CVAT ignores on import and the reader decodes, so it reads back
with its type; unmarked text (everything in CVAT's own exports) is read as the text it is. An unmarked empty
<attribute> means "no value": on a CVAT for video keyframe it ends the value carried from earlier keyframes.

Annotator: CVAT files name one person, the task's <assignee> (the <owner> when there is none), so a file holds
one annotator's labels.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from vision_assets.core.labels.formats.common import AnnotationFormatError, attribute_values


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


# Marks an <attribute> whose text is a JSON value rather than CVAT's plain text.
JSON_MARK = "json"
# What element_attributes gives an empty unmarked <attribute>: no value (a JSON null is a value).
UNSET = object()


def element_attributes(el: ET.Element) -> dict:
    """An element's attributes, an empty unmarked value as UNSET (callers drop it, or un-carry it)."""
    values = {}
    for a in el.findall("attribute"):
        text = a.text or ""
        if a.get(JSON_MARK) == "1":
            try:
                values[a.get("name")] = json.loads(text)
                continue
            except json.JSONDecodeError:
                pass
        values[a.get("name")] = text if text else UNSET
    return values


def set_values(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not UNSET}


def single_annotator(df, fmt: str) -> str:
    """The one annotator a CVAT file can name: the rows' one non-empty annotator, "" when none has one."""
    names = sorted(set(df["annotator"]) - {""})
    if len(names) > 1:
        raise AnnotationFormatError(
            f"{fmt}: CVAT files hold one annotator's labels; write one file per annotator (rows have {len(names)}: "
            f"{', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
        )
    return names[0] if names else ""


def box_corners(el: ET.Element) -> list[float]:
    return [float(el.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")]


def new_document(mode: str, class_names: list[str], meta: dict[str, str], annotator_name: str = "") -> ET.Element:
    """<annotations> with the <meta><task> CVAT needs to map labels on import, and the annotator as its assignee."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    ET.SubElement(task, "mode").text = mode
    for key, value in meta.items():
        ET.SubElement(task, key).text = value
    labels = ET.SubElement(task, "labels")
    for name in class_names:
        ET.SubElement(ET.SubElement(labels, "label"), "name").text = name
    if annotator_name:
        ET.SubElement(ET.SubElement(task, "assignee"), "username").text = annotator_name
    return root


def add_attribute_elements(el: ET.Element, attributes_json: str | dict, names: list[str] = ()) -> None:
    """One <attribute> per value, plus an empty one for each of `names` the row has no value for."""
    values = attributes_json if isinstance(attributes_json, dict) else attribute_values(attributes_json)
    for name in [*names, *sorted(set(values) - set(names), key=str)] if names else values:
        if name not in values:
            ET.SubElement(el, "attribute", name=str(name)).text = ""
            continue
        value = values[name]
        if isinstance(value, str) and value:
            ET.SubElement(el, "attribute", name=str(name)).text = value
        else:
            # CVAT attribute values are text; JSON keeps true/1.5 readable, and the mark keeps their type.
            ET.SubElement(el, "attribute", name=str(name), **{JSON_MARK: "1"}).text = json.dumps(value)


def corner_attributes(x1: float, y1: float, x2: float, y2: float) -> dict[str, str]:
    # repr keeps every digit, so a read-back box equals the written one exactly.
    return {"xtl": repr(float(x1)), "ytl": repr(float(y1)), "xbr": repr(float(x2)), "ybr": repr(float(y2))}


def save(root: ET.Element, dest: Path) -> Path:
    ET.indent(root)
    dest = Path(dest)
    ET.ElementTree(root).write(dest, encoding="utf-8", xml_declaration=True)
    return dest
