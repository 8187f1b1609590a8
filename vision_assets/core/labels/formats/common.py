"""What every format module shares: the error type, the canonical table's shape, and small naming helpers."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pandas as pd

from vision_assets.core.errors import VisionError
from vision_assets.core.input_files import InputLimits, InputRefused, kind_of, load_json_bounded, read_bytes_bounded
from vision_assets.core.labels.schema import ANNOTATION_COLUMNS, ANNOTATION_DEFAULTS, ANNOTATION_DTYPES

BOX = ["x1", "y1", "x2", "y2"]
ImageSize = tuple[int, int] | dict[str, tuple[int, int]] | None  # one (w, h) for all, or per video_sha256
# df.attrs key under which readers put the frame sizes a file declares: {image_name: (w, h)} ("" for all frames).
IMAGE_SIZES = "image_sizes"

_TRAILING_DIGITS = re.compile(r"(\d+)$")


class AnnotationFormatError(VisionError, ValueError):
    """The file is not a supported annotation format, or is malformed."""


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """ANNOTATION_COLUMNS in order with their dtypes; columns a format has nothing to say about get their default."""
    missing = {c: ANNOTATION_DEFAULTS[c] for c in ANNOTATION_COLUMNS if c not in df and c in ANNOTATION_DEFAULTS}
    if missing:
        df = df.assign(**missing)
    return df[ANNOTATION_COLUMNS].astype(ANNOTATION_DTYPES)


def empty_table() -> pd.DataFrame:
    return canonical(pd.DataFrame({c: [] for c in ANNOTATION_COLUMNS}))


def frame_from_name(name: str) -> int | None:
    """The frame number at the end of a file stem ("frame_000012.jpg" -> 12), None when the stem has no digits."""
    m = _TRAILING_DIGITS.search(Path(name).stem)
    return int(m.group(1)) if m else None


def frame_file_name(image_name: str, frame: int, suffix: str = "") -> str:
    """The file name a writer gives a frame: the source image's own name when it still names this frame.

    Readers take the frame from the name's trailing digits, so any other name would move the boxes to another frame.
    """
    return image_name if image_name and frame_from_name(image_name) == frame else f"frame_{frame:06d}{suffix}"


def attributes_text(attrs: dict) -> str:
    return json.dumps(attrs, sort_keys=True)


def attribute_values(text: str) -> dict:
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def load_json(path: Path):
    """A label JSON file, refused (AnnotationFormatError) when it is not a regular file, too big or too deep."""
    limits = InputLimits.from_env()
    try:
        return load_json_bounded(path, limits.max_label_bytes, limits.max_json_depth)
    except InputRefused as exc:
        raise AnnotationFormatError(str(exc)) from exc


def read_label_bytes(path: Path) -> bytes:
    """A label file's bytes: a regular file within the label size limit (a FIFO or a huge file is refused)."""
    try:
        return read_bytes_bounded(path, InputLimits.from_env().max_label_bytes)
    except InputRefused as exc:
        raise AnnotationFormatError(str(exc)) from exc


def check_label_path(path: Path) -> None:
    """A folder (a YOLO set, whose files are checked as they are read) or a regular file within the label size
    limit; anything else (a FIFO would block the reader forever) is refused before it is opened."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise AnnotationFormatError(f"{path}: cannot read annotation file ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(info.st_mode):
        return
    if not stat.S_ISREG(info.st_mode):
        raise AnnotationFormatError(f"{path}: is {kind_of(info.st_mode)}, not a regular file")
    limit = InputLimits.from_env().max_label_bytes
    if info.st_size > limit:
        raise AnnotationFormatError(f"{path}: is {info.st_size:,} bytes, over the label file limit of {limit:,} bytes")


def frame_slack(frames_count: int) -> int:
    """Frames a labelling tool may count beyond our decoder (its own rounding of duration x fps)."""
    return max(2, frames_count // 100)


def check_frame_reach(path: Path, what: str, frame: int, frames_count: int | None) -> None:
    """Refuse a file whose expansion would reach `frame` (0-based), past the video's frames (plus frame_slack), or
    without a video past VISION_MAX_LABEL_FRAMES: such a file is wrong, and expanding it would fill the memory."""
    if frames_count is not None:
        if frame >= frames_count + frame_slack(frames_count):
            raise AnnotationFormatError(f"{path}: {what} reaches frame {frame:,}, past the video's {frames_count:,} "
                                        "frames; refused rather than expanded")
        return
    limit = InputLimits.from_env().max_label_frames
    if frame >= limit:
        raise AnnotationFormatError(f"{path}: {what} reaches frame {frame:,}, past {limit:,} frames "
                                    "(VISION_MAX_LABEL_FRAMES, the bound for labels read without their video); "
                                    "refused rather than expanded")


def check_row_budget(path: Path, rows: int) -> None:
    """Refuse a file once its expansion passes VISION_MAX_LABEL_ROWS rows."""
    limit = InputLimits.from_env().max_label_rows
    if rows > limit:
        raise AnnotationFormatError(f"{path}: expands to more than {limit:,} rows (VISION_MAX_LABEL_ROWS); refused")


def read_label_text(path: Path) -> str:
    try:
        return read_label_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationFormatError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from exc


def per_video(value, video: str):
    """An option given once for every video, or as a dict per video_sha256: the value for `video`."""
    return value.get(video) if isinstance(value, dict) else value


def declared_size(width, height) -> tuple[int, int] | None:
    """(width, height) as a file declares a frame's size, None when either is missing, zero or not a number."""
    if not (width and height):
        return None
    try:
        return int(float(width)), int(float(height))
    except (TypeError, ValueError, OverflowError):
        return None


def size_for(image_size: ImageSize, video: str, what: str) -> tuple[float, float]:
    size = per_video(image_size, video)
    if size is None:
        raise ValueError(f"{what} needs the image size: pass image_size=(width, height) (or a dict per video_sha256)")
    width, height = size
    return float(width), float(height)


def one_video(df: pd.DataFrame, fmt: str) -> None:
    """Formats that describe a single video take one video's rows, so frames of two videos cannot collide."""
    videos = sorted(set(df["video_sha256"]))
    if len(videos) > 1:
        raise ValueError(f"{fmt} holds one video per file; these rows span {len(videos)} videos: write them one by one")


def class_list(df: pd.DataFrame, class_names: list[str] | None, fmt: str) -> list[str]:
    """The classes to declare: the given list (which must cover every row) or the sorted names in the table."""
    if class_names is None:
        return sorted(set(df["class_name"]))
    unknown = sorted(set(df["class_name"]) - set(class_names))
    if unknown:
        raise ValueError(f"{fmt}: rows have classes missing from class_names: {unknown}")
    return list(class_names)


def frame_keys(frames: pd.DataFrame | None) -> list[tuple[str, int]]:
    """The (video_sha256, frame_index) pairs of a writer's `frames` option (frames the file must show even without
    rows), sorted, each once."""
    if frames is None:
        return []
    return sorted(set(zip(frames["video_sha256"], (int(f) for f in frames["frame_index"]))))


def writing_order(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in an order that does not depend on the input's order, so written ids and files are stable."""
    keys = ["video_sha256", "frame_index", "track_id", "class_name", *BOX, "source_id"]
    return canonical(df).sort_values(keys, kind="stable").reset_index(drop=True)
