"""Read box annotations (CVAT for video 1.1 XML, MOTChallenge txt) into the canonical ANNOTATION_COLUMNS table.

CVAT rotated boxes are read as their unrotated xtl/ytl/xbr/ybr; only <box> tracks yield rows.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd

from vision_assets.core.schema import ANNOTATION_COLUMNS

FORMATS = ("cvat_video", "mot")

DTYPES = {
    "video_sha256": "str",
    "frame_index": "int64",
    "class_name": "str",
    "x1": "float64",
    "y1": "float64",
    "x2": "float64",
    "y2": "float64",
    "track_id": "int64",
    "occluded": "bool",
    "attributes": "str",
    "annotator": "str",
    "source_file": "str",
    "source_id": "str",
}

# MOT17 ground-truth class ids (MOT16/17/20 devkits).
MOT_CLASSES = {
    1: "pedestrian",
    2: "person_on_vehicle",
    3: "car",
    4: "bicycle",
    5: "motorbike",
    6: "non_motorized_vehicle",
    7: "static_person",
    8: "distractor",
    9: "occluder",
    10: "occluder_on_ground",
    11: "occluder_full",
    12: "reflection",
}

_BOX = ["x1", "y1", "x2", "y2"]


class AnnotationFormatError(ValueError):
    """The file is not a supported annotation format, or is malformed."""


def read_annotations(path: Path, fmt: str | None = None) -> pd.DataFrame:
    """Read one annotation file into ANNOTATION_COLUMNS, sorted by (frame_index, track_id).

    The format is detected from the content unless ``fmt`` ("cvat_video" or "mot") is given.
    video_sha256 is left "" for the caller to attach.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise AnnotationFormatError(f"{path}: cannot read annotation file ({exc})") from exc
    if fmt is None:
        fmt = _detect(path, head)
    if fmt == "cvat_video":
        df = _read_cvat_video(path)
    elif fmt == "mot":
        df = _read_mot(path)
    else:
        raise AnnotationFormatError(f"{path}: unknown annotation format {fmt!r}; supported: {', '.join(FORMATS)}")
    df = df.sort_values(["frame_index", "track_id"], kind="stable").reset_index(drop=True)
    return _canonical(df)


def label_version(df: pd.DataFrame) -> str:
    """First 16 hex chars of the sha256 of the canonical rows, independent of row order.

    Every column counts, video_sha256 and source_file included.
    """
    rows = _canonical(df).sort_values(ANNOTATION_COLUMNS, kind="stable")
    text = rows.to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def empty_annotations() -> pd.DataFrame:
    """A zero-row table with the canonical columns and dtypes."""
    return _canonical(pd.DataFrame({c: [] for c in ANNOTATION_COLUMNS}))


def _canonical(df: pd.DataFrame) -> pd.DataFrame:
    return df[ANNOTATION_COLUMNS].astype(DTYPES)


_MOT_LINE = re.compile(rb"^\s*-?\d+(\.\d*)?\s*(,\s*-?[\d.eE+-]+\s*){5,}$")


def _detect(path: Path, head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        return "cvat_video"  # the reader rejects XML that is not CVAT for video
    first_line = text.split(b"\n", 1)[0].rstrip(b"\r")
    if _MOT_LINE.match(first_line):
        return "mot"
    if not text:
        raise AnnotationFormatError(f"{path}: empty file, not an annotation file")
    raise AnnotationFormatError(
        f"{path}: unrecognised annotation format (neither CVAT XML nor MOTChallenge "
        f"'frame,id,x,y,w,h,...' lines); first line: {first_line[:80]!r}"
    )


# ---------------------------------------------------------------- CVAT for video 1.1


def _read_cvat_video(path: Path) -> pd.DataFrame:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise AnnotationFormatError(f"{path}: not well-formed XML ({exc})") from exc
    if root.tag != "annotations":
        raise AnnotationFormatError(f"{path}: XML root is <{root.tag}>, expected CVAT <annotations>")
    tracks = root.findall("track")
    if not tracks and root.find("image") is not None:
        raise AnnotationFormatError(
            f"{path}: this is a CVAT *for images* export (<image> elements); only CVAT for video 1.1 is supported"
        )

    start, stop, step = _frame_range(path, root)
    annotator = _annotator(root)
    parts = [_expand_track(path, t, t.findall("box"), start, stop, step) for t in tracks if t.find("box") is not None]
    parts = [p for p in parts if len(p)]
    df = pd.concat(parts, ignore_index=True) if parts else empty_annotations()
    df["video_sha256"] = ""
    df["annotator"] = annotator
    df["source_file"] = path.name
    return df


def _frame_range(path: Path, root: ET.Element) -> tuple[int | None, int | None, int]:
    # Task exports put these under meta/task, job exports under meta/job; take the first found.
    start = root.findtext("meta//start_frame")
    stop = root.findtext("meta//stop_frame")
    filt = (root.findtext("meta//frame_filter") or "").strip()
    if not filt:
        step = 1
    else:
        m = re.fullmatch(r"step\s*=\s*(\d+)", filt)
        if not m or int(m.group(1)) < 1:
            raise AnnotationFormatError(f"{path}: unsupported CVAT frame_filter {filt!r} (expected 'step=K')")
        step = int(m.group(1))
    try:
        return (int(start) if start else None, int(stop) if stop else None, step)
    except ValueError as exc:
        raise AnnotationFormatError(f"{path}: bad start_frame/stop_frame ({exc})") from exc


def _annotator(root: ET.Element) -> str:
    # The assignee did the labelling; the owner only created the task, so it is the fallback.
    for el in (root.find("meta//assignee"), root.find("meta//owner")):
        if el is not None:
            name = (el.findtext("username") or el.text or "").strip()
            if name:
                return name
    return ""


def _expand_track(path: Path, track: ET.Element, boxes: list[ET.Element], start, stop, step) -> pd.DataFrame:
    tid = track.get("id")
    try:
        track_id = int(tid)
        keys = sorted((_keyframe(b) for b in boxes), key=lambda k: k[0])
    except (TypeError, ValueError) as exc:
        raise AnnotationFormatError(f"{path}: track {tid}: box without valid id/frame/xtl/ytl/xbr/ybr ({exc})") from exc
    first = keys[0][0] if start is None else start
    last = keys[-1][0] if stop is None else stop

    frames_out, boxes_out, occl_out, attrs_out = [], [], [], []
    attrs: dict[str, str] = {}
    for i, (frame, outside, occluded, box, own_attrs) in enumerate(keys):
        # CVAT carries mutable attribute values forward until a keyframe sets them again.
        attrs = {**attrs, **own_attrs}
        if outside:
            continue
        end = min(keys[i + 1][0], last + 1) if i + 1 < len(keys) else last + 1
        lo = max(frame, first)
        lo = first + -(-(lo - first) // step) * step  # first frame >= lo the frame filter keeps
        frames = np.arange(lo, end, step, dtype=np.int64)
        if not len(frames):
            continue
        if i + 1 < len(keys):
            nxt_frame, nxt_box = keys[i + 1][0], keys[i + 1][3]
            t = (frames - frame) / (nxt_frame - frame)
            # CVAT interpolates towards the next keyframe's box even when that keyframe is outside.
            coords = box + (nxt_box - box) * t[:, None]
        else:
            coords = np.broadcast_to(box, (len(frames), 4))
        frames_out.append(frames)
        boxes_out.append(coords)
        occl_out.append(np.full(len(frames), occluded))
        attrs_out += [json.dumps(attrs, sort_keys=True)] * len(frames)

    if not frames_out:
        return empty_annotations()
    frames = np.concatenate(frames_out)
    coords = np.concatenate(boxes_out)
    return pd.DataFrame(
        {
            "frame_index": frames,
            "class_name": track.get("label", ""),
            **{c: coords[:, j] for j, c in enumerate(_BOX)},
            "track_id": track_id,
            "occluded": np.concatenate(occl_out),
            "attributes": attrs_out,
            "source_id": f"track{track_id}:frame" + pd.Series(frames).astype(str),
        }
    )


def _keyframe(b: ET.Element) -> tuple[int, bool, bool, np.ndarray, dict[str, str]]:
    return (
        int(b.get("frame")),
        b.get("outside", "0") == "1",
        b.get("occluded", "0") == "1",
        np.array([float(b.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")]),
        {a.get("name"): (a.text or "") for a in b.findall("attribute")},
    )


# ---------------------------------------------------------------- MOTChallenge


def _read_mot(path: Path) -> pd.DataFrame:
    try:
        # Blank lines are kept so that the row index stays the 0-based line number.
        raw = pd.read_csv(path, header=None, skip_blank_lines=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AnnotationFormatError(f"{path}: not a MOTChallenge txt file ({str(exc).strip()})") from exc
    raw = raw[raw.notna().any(axis=1)]
    if raw.shape[1] < 6:
        raise AnnotationFormatError(f"{path}: MOT lines need at least 6 fields frame,id,x,y,w,h; got {raw.shape[1]}")
    # Only columns with a non-numeric cell need coercing; the NaN it leaves is caught below with its line number.
    num = raw.apply(lambda col: col if pd.api.types.is_numeric_dtype(col) else pd.to_numeric(col, errors="coerce"))
    line_no = raw.index.to_numpy() + 1

    frame, tid = num[0], num[1]
    bad = num.iloc[:, :6].isna().any(axis=1) | (frame % 1 != 0) | (tid % 1 != 0) | (frame < 1)
    if bad.any():
        n = line_no[bad.to_numpy().argmax()]
        raise AnnotationFormatError(
            f"{path}: line {n}: expected numeric frame,id,x,y,w,h with integer frame >= 1 and integer id"
        )

    x, y, w, h = (num[i].to_numpy(dtype=float) for i in (2, 3, 4, 5))
    conf = num[6] if 6 in num else pd.Series(np.nan, index=num.index)
    cls, vis = _mot_class_and_visibility(num)

    ignore = pd.Series(np.where(conf == 0, '"ignore": true', ""), index=num.index)
    has_vis = vis >= 0
    visibility = ('"visibility": ' + vis.astype(str)).where(has_vis, "")
    sep = pd.Series(np.where((ignore != "") & (visibility != ""), ", ", ""), index=num.index)

    return pd.DataFrame(
        {
            "video_sha256": "",
            "frame_index": frame.to_numpy(dtype=np.int64) - 1,
            "class_name": cls,
            "x1": x,
            "y1": y,
            "x2": x + w,
            "y2": y + h,
            "track_id": tid.to_numpy(dtype=np.int64),
            "occluded": (has_vis & (vis < 0.5)).to_numpy(),
            "attributes": "{" + ignore + sep + visibility + "}",
            "annotator": "",
            "source_file": path.name,
            "source_id": "line" + pd.Series(line_no, index=num.index).astype(str),
        }
    ).reset_index(drop=True)


def _mot_class_and_visibility(num: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    missing = pd.Series(np.nan, index=num.index)
    cls = num[7] if 7 in num else missing
    # MOT15 files put 3D world coordinates (floats) where MOT16+ put class and visibility.
    if (cls.dropna() % 1 != 0).any():
        cls, vis = missing, missing
    else:
        vis = num[8] if 8 in num else missing
    ids = cls.fillna(-1).astype(np.int64)
    names = ids.map(MOT_CLASSES)
    names = names.where(ids != -1, "pedestrian").fillna("class_" + ids.astype(str))
    return names, vis.fillna(-1.0)
