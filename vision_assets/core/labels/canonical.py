"""Box annotations in every format teams use, read into and written from the canonical ANNOTATION_COLUMNS table.

Formats (vision_assets.core.labels.formats, one module each): coco, yolo, cvat_video, cvat_images, mot, label_studio.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd

from vision_assets.core.labels.formats import (
    FORMATS,
    MOT_CLASSES,
    READERS,
    WRITERS,
    AnnotationFormatError,
    detect_and_load,
    detect_format,
)
from vision_assets.core.labels.formats.common import canonical, check_label_path, empty_table
from vision_assets.core.labels.schema import ANNOTATION_COLUMNS

__all__ = ["FORMATS", "MOT_CLASSES", "AnnotationFormatError", "detect_format", "empty_annotations",
           "label_version", "read_annotations", "write_annotations"]


def read_annotations(path: Path, fmt: str | None = None, *, image_size: tuple[int, int] | None = None,
                     frames_count: int | None = None, data=None) -> pd.DataFrame:
    """Read one label file (or a YOLO folder / data yaml) into ANNOTATION_COLUMNS, sorted by (frame_index, track_id).

    The format is detected from the content unless ``fmt`` names one of FORMATS. ``image_size`` = (width, height)
    of the video's frames converts YOLO's normalised boxes without looking for images, and Label Studio's percent
    boxes whose result lacks original_width/height. video_sha256 is left "" for the caller to attach.
    df.attrs["image_sizes"] holds the frame sizes the file declares (COCO images, CVAT <image>s by image name;
    CVAT for video's original_size under ""), when it declares any.

    ``frames_count``: the video's decoded frame count. Keyframe formats (CVAT for video, Label Studio) are refused
    rather than expanded past it (without it, past VISION_MAX_LABEL_FRAMES), and a COCO file numbered from 1 by its
    image names is recognised against it (see formats/coco.py). df.attrs["corrections"] lists what the reader
    corrected, for the import report. ``data`` (with ``fmt``): the file's content already loaded, or a part of it
    (the tasks of one video of a Label Studio export).
    """
    path = Path(path)
    if not path.exists():
        raise AnnotationFormatError(f"{path}: cannot read annotation file (it does not exist)")
    check_label_path(path)
    try:
        fmt, data = detect_and_load(path) if fmt is None else (fmt, data)
        reader = READERS.get(fmt)
        if reader is None:
            raise AnnotationFormatError(f"{path}: unknown annotation format {fmt!r}; supported: {', '.join(FORMATS)}")
        read = reader(path, image_size=image_size, data=data, frames_count=frames_count)
        df = canonical(read)
        df.attrs = dict(read.attrs)
    except AnnotationFormatError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OSError, OverflowError, RecursionError,
            MemoryError) as exc:
        # A file of the right kind with an unexpected structure or out-of-range numbers (a frame of 1e30, an
        # Infinity track id): still name the file, never a bare exception that stops the batch.
        raise AnnotationFormatError(f"{path}: malformed {fmt} input ({type(exc).__name__}: {_without_values(exc)})") from exc
    return df.sort_values(["frame_index", "track_id"], kind="stable").reset_index(drop=True)


def _without_values(error: Exception) -> str:
    """A conversion error quotes the text it could not convert ("could not convert string to float: 'root:x:0'"):
    the file's content stays out of logs and checks, the kind of problem stays in."""
    text = str(error)
    return _QUOTED.sub("<value>", text) if isinstance(error, ValueError) else text


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def write_annotations(df: pd.DataFrame, fmt: str, dest: Path, **options) -> Path:
    """Write canonical rows as ``fmt`` to ``dest`` (a file; a folder for yolo) and return what was written.

    Every writer takes class_names (the classes to declare, in id order; every row's class must be among them;
    default: the sorted names in df) and image_size ((w, h), or {video_sha256: (w, h)} for coco/label_studio):
      yolo, label_studio: image_size required (normalised / percent boxes)
      coco, cvat_images, cvat_video: image_size optional (image width/height, meta original_size)
      mot: image_size unused; classes must be MOT classes (MOT_CLASSES); untracked='number' numbers boxes without a
        track (refused by default: MOT ids are objects)
      cvat_video also: frames_count (the video's frame count, for stop_frame)
      label_studio also: video_urls={sha256: url}, frames_count, fps, as_predictions=False, from_name, to_name
      coco, cvat_images, label_studio also: frames, a table of (video_sha256, frame_index) to show even without
        rows (coco: images, with its file_name column's names where it has one; cvat_images: <image>s;
        label_studio: tasks listing them in data.hard_frames)
    Single-video formats (yolo, cvat_video, cvat_images, mot) refuse rows of several videos.
    """
    writer = WRITERS.get(fmt)
    if writer is None:
        raise ValueError(f"unknown annotation format {fmt!r}; supported: {', '.join(FORMATS)}")
    return writer(df, Path(dest), **options)


def label_version(df: pd.DataFrame) -> str:
    """First 16 hex chars of the sha256 of the canonical rows, independent of row order.

    Every column counts, video_sha256 and source_file included; a NaN declared_area is written as an empty field,
    so it hashes the same every time.
    """
    rows = canonical(df).sort_values(ANNOTATION_COLUMNS, kind="stable", na_position="last")
    text = rows.to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def empty_annotations() -> pd.DataFrame:
    """A zero-row table with the canonical columns and dtypes."""
    return empty_table()
