"""CVAT for video 1.1 XML: <track>s of keyframed <box>es, interpolated between keyframes, hidden while `outside`.

Rotated boxes are read as their unrotated xtl/ytl/xbr/ybr; only <box> tracks yield rows. The table holds boxes, so
tracks of other shapes (points, polylines, polygons) are kept as they are, with the task's start_frame, stop_frame
and frame_filter, in df.attrs[CVAT_VIDEO]; the writer puts them back, so CVAT for video written from CVAT for video
keeps them.

As in CVAT, a keyframe's attribute values carry forward to later keyframes that do not set them; an empty value
ends the carried one. The writer therefore writes every attribute the track uses on each keyframe, empty where the
row has none, so each row reads back with exactly its own attributes (value types: see cvat_xml).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vision_assets.core.labels.formats.common import (
    BOX,
    IMAGE_SIZES,
    AnnotationFormatError,
    attribute_values,
    attributes_text,
    check_frame_reach,
    check_row_budget,
    class_list,
    declared_size,
    empty_table,
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

# CVAT for video has no box without a track (CVAT itself exports such shapes as one-frame tracks). Our writer marks
# those tracks so that reading the file back gives track_id -1 again; CVAT ignores the extra XML attribute.
UNTRACKED_MARK = "untracked"
# df.attrs key: {"start_frame", "stop_frame", "frame_filter": text as the file has it, "other_tracks": [XML text]}.
CVAT_VIDEO = "cvat_video"


def read_cvat_video(path: Path, *, image_size: tuple[int, int] | None = None, data: Any = None,
              frames_count: int | None = None) -> pd.DataFrame:
    """Boxes are pixels, so `image_size` is not needed; `data` is unused (only JSON is loaded ahead). The frame size
    meta's original_size declares goes to df.attrs[IMAGE_SIZES] as {"": (w, h)}."""
    root = parse_root(path)
    tracks = root.findall("track")
    if not tracks and root.find("image") is not None:
        raise AnnotationFormatError(
            f"{path}: this is a CVAT *for images* export (<image> elements), not CVAT for video"
        )
    start, stop, step = _frame_range(path, root)
    if stop is not None:
        check_frame_reach(path, f"stop_frame {stop}", stop, frames_count)
    parts, rows = [], 0
    for track in tracks:
        if track.find("box") is None:
            continue
        # Counted before each span is built: tracks by the ten thousand, each over the whole video, add up.
        part = _expand_track(path, track, track.findall("box"), start, stop, step, frames_count, rows)
        rows += len(part)
        if len(part):
            parts.append(part)
    df = pd.concat(parts, ignore_index=True) if parts else empty_table()
    df = df.assign(annotator=annotator(root), source_file=path.name, source_format="cvat_video")
    size = root.find(".//original_size")
    size = None if size is None else declared_size(size.findtext("width"), size.findtext("height"))
    df.attrs[IMAGE_SIZES] = {"": size} if size else {}
    df.attrs[CVAT_VIDEO] = {
        **{key: (root.findtext(f"meta//{key}") or "").strip() for key in ("start_frame", "stop_frame", "frame_filter")},
        "other_tracks": [ET.tostring(t, encoding="unicode").strip() for t in tracks if t.find("box") is None],
    }
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


def _expand_track(path: Path, track: ET.Element, boxes: list[ET.Element], start, stop, step,
                  frames_count: int | None, rows_before: int = 0) -> pd.DataFrame:
    tid = track.get("id")
    try:
        xml_id = int(tid)
        keys = sorted((_keyframe(b) for b in boxes), key=lambda k: k[0])
    except (TypeError, ValueError) as exc:
        raise AnnotationFormatError(f"{path}: track {tid}: box without valid id/frame/xtl/ytl/xbr/ybr ({exc})") from exc
    check_frame_reach(path, f"track {tid}'s keyframe", keys[-1][0], frames_count)
    first = keys[0][0] if start is None else start
    last = keys[-1][0] if stop is None else stop

    frames_out, boxes_out, occl_out, attrs_out = [], [], [], []
    attrs: dict = {}
    for i, (frame, outside, occluded, box, own_attrs) in enumerate(keys):
        # CVAT carries mutable attribute values forward until a keyframe sets them again; an empty one unsets them.
        attrs = {**attrs, **own_attrs}
        if outside:
            continue
        end = min(keys[i + 1][0], last + 1) if i + 1 < len(keys) else last + 1
        lo = max(frame, first)
        lo = first + -(-(lo - first) // step) * step  # first frame >= lo the frame filter keeps
        rows_before += max(0, -(-(end - lo) // step))
        check_row_budget(path, rows_before)
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
        attrs_out += [attributes_text(set_values(attrs))] * len(frames)

    if not frames_out:
        return empty_table()
    frames = np.concatenate(frames_out)
    coords = np.concatenate(boxes_out)
    return pd.DataFrame(
        {
            "frame_index": frames,
            "class_name": track.get("label", ""),
            **{c: coords[:, j] for j, c in enumerate(BOX)},
            "track_id": -1 if track.get(UNTRACKED_MARK) == "1" else xml_id,
            "occluded": np.concatenate(occl_out),
            "attributes": attrs_out,
            "source_id": f"track{xml_id}:frame" + pd.Series(frames).astype(str),
        }
    )


def _keyframe(b: ET.Element) -> tuple[int, bool, bool, np.ndarray, dict]:
    return (
        int(b.get("frame")),
        b.get("outside", "0") == "1",
        b.get("occluded", "0") == "1",
        np.array(box_corners(b)),
        element_attributes(b),
    )


def write_cvat_video(
    df: pd.DataFrame,
    dest: Path,
    *,
    class_names: list[str] | None = None,
    image_size: tuple[int, int] | None = None,
    frames_count: int | None = None,
    source: dict | None = None,
) -> Path:
    """One <track> per track_id with a keyframe at every row; a track is set `outside` on the frame after each of
    its boxes that the next box does not directly follow, so nothing is interpolated across gaps or past the end.
    Rows without a track become marked one-frame tracks, numbered after the real ones.

    stop_frame is the video's last frame (frames_count - 1) when given, else the last labelled frame; as in CVAT's
    own exporter, no `outside` keyframe is written past it (there is nothing left to hide). Rows on frames the video
    does not have (frame_index >= frames_count) are refused, as are rows of several annotators (the file names one,
    the task's assignee).

    source (default: df.attrs[CVAT_VIDEO], what the reader found) gives back the source file's start_frame,
    stop_frame and frame_filter and its tracks of other shapes (points, polylines, polygons), verbatim.
    """
    one_video(df, "CVAT for video")
    source = df.attrs.get(CVAT_VIDEO) if source is None else source
    source = source or {}
    rows = writing_order(df)
    who = single_annotator(rows, "CVAT for video")
    _check_tracks(rows)
    if frames_count is not None:
        beyond = rows[rows["frame_index"] >= int(frames_count)]
        if len(beyond):
            raise AnnotationFormatError(
                f"CVAT for video: {len(beyond)} rows lie at or beyond frames_count={int(frames_count)} (frames "
                f"{int(beyond['frame_index'].min())}..{int(beyond['frame_index'].max())}; the video's last frame is "
                f"{int(frames_count) - 1}): CVAT would drop them"
            )
        stop = int(frames_count) - 1
    elif source.get("stop_frame"):
        stop = int(source["stop_frame"])
    else:
        stop = int(rows["frame_index"].max()) if len(rows) else 0
    others = [ET.fromstring(text) for text in source.get("other_tracks") or []]
    labels = class_list(rows, class_names, "CVAT for video")
    labels += sorted({t.get("label", "") for t in others} - set(labels) - {""})
    step = _step(source.get("frame_filter") or "")
    root = new_document("interpolation", labels, {"start_frame": source.get("start_frame") or "0",
                                                  "stop_frame": str(stop),
                                                  "frame_filter": source.get("frame_filter") or ""}, who)
    if image_size is not None:
        size = ET.SubElement(root.find("meta/task"), "original_size")
        ET.SubElement(size, "width").text, ET.SubElement(size, "height").text = str(image_size[0]), str(image_size[1])

    tracked = rows[rows["track_id"] >= 0]
    for track_id, track_rows in tracked.groupby("track_id", sort=True):
        _add_track(root, int(track_id), track_rows, stop, untracked=False, step=step)
    other_ids = [int(t.get("id")) for t in others if (t.get("id") or "").isdigit()]
    next_id = max([int(tracked["track_id"].max()) if len(tracked) else -1, *other_ids]) + 1
    untracked = rows[rows["track_id"] < 0]
    for i in range(len(untracked)):
        _add_track(root, next_id + i, untracked.iloc[[i]], stop, untracked=True, step=step)
    root.extend(others)
    return save(root, dest)


def _step(frame_filter: str) -> int:
    m = re.fullmatch(r"step\s*=\s*(\d+)", frame_filter.strip())
    return int(m.group(1)) if m and int(m.group(1)) >= 1 else 1


def _check_tracks(rows: pd.DataFrame) -> None:
    tracked = rows[rows["track_id"] >= 0]
    twice = tracked[tracked.duplicated(["track_id", "frame_index"])]
    if len(twice):
        t, f = twice.iloc[0][["track_id", "frame_index"]]
        raise ValueError(f"a track has one box per frame; track {t} has several on frame {f}")
    classes = tracked.groupby("track_id")["class_name"].nunique()
    if (classes > 1).any():
        raise ValueError(f"a track has one class; track {classes[classes > 1].index[0]} has several")


def _add_track(root: ET.Element, xml_id: int, track_rows: pd.DataFrame, stop: int, untracked: bool,
               step: int = 1) -> None:
    track = ET.SubElement(root, "track", id=str(xml_id), label=str(track_rows["class_name"].iloc[0]))
    if untracked:
        track.set(UNTRACKED_MARK, "1")
    frames = track_rows["frame_index"].tolist()
    values = [attribute_values(a) for a in track_rows["attributes"]]
    # Every keyframe names every attribute the track uses, so no value carries over to a row that has none.
    names = sorted({name for v in values for name in v}, key=str)
    for i, row in enumerate(track_rows.itertuples(index=False)):
        corners = corner_attributes(row.x1, row.y1, row.x2, row.y2)
        box = ET.SubElement(track, "box", frame=str(row.frame_index), outside="0", occluded=str(int(row.occluded)),
                            keyframe="1", **corners, z_order="0")
        add_attribute_elements(box, values[i], names)
        # Under a frame filter step=K the next shown frame is K on: a box there follows on.
        followed = i + 1 < len(frames) and frames[i + 1] == row.frame_index + step
        if not followed and row.frame_index + 1 <= stop:
            ET.SubElement(track, "box", frame=str(row.frame_index + 1), outside="1", occluded="0", keyframe="1",
                          **corners, z_order="0")
