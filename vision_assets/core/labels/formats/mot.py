"""MOTChallenge txt: one `frame,id,x,y,w,h,conf[,class,visibility | ,wx,wy,wz]` line per box, frames 1-based.

A box is occluded when its visibility is below OCCLUDED_BELOW. The line has no place for an annotator, nor for
attributes other than visibility and ignore (conf 0): the writer drops them, and the reader leaves annotator "".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vision_assets.core.geometry import xywh_to_xyxy, xyxy_to_xywh
from vision_assets.core.labels.formats.common import (
    BOX,
    AnnotationFormatError,
    attribute_values,
    class_list,
    one_video,
    writing_order,
)

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
_MOT_IDS = {name: i for i, name in MOT_CLASSES.items()}
# Visibility below this reads as occluded; an occluded row without a visibility is written with OCCLUDED_VISIBILITY.
OCCLUDED_BELOW = 0.5
OCCLUDED_VISIBILITY = 0.25


def read_mot(path: Path, *, image_size: tuple[int, int] | None = None, data: Any = None,
              frames_count: int | None = None) -> pd.DataFrame:
    """Boxes are pixels, so `image_size` is not needed; `data` is unused (only JSON is loaded ahead)."""
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

    x1, y1, x2, y2 = xywh_to_xyxy(*(num[i].to_numpy(dtype=float) for i in (2, 3, 4, 5)))
    conf = num[6] if 6 in num else pd.Series(np.nan, index=num.index)
    class_ids, names, vis = _mot_class_and_visibility(num)

    ignore = pd.Series(np.where(conf == 0, '"ignore": true', ""), index=num.index)
    has_vis = vis >= 0
    visibility = ('"visibility": ' + vis.astype(str)).where(has_vis, "")
    sep = pd.Series(np.where((ignore != "") & (visibility != ""), ", ", ""), index=num.index)

    return pd.DataFrame(
        {
            "frame_index": frame.to_numpy(dtype=np.int64) - 1,
            "class_name": names,
            "x1": x1,
            "y1": y1,
            "x2": x2,
            "y2": y2,
            "track_id": tid.to_numpy(dtype=np.int64),
            "occluded": (has_vis & (vis < OCCLUDED_BELOW)).to_numpy(),
            "attributes": "{" + ignore + sep + visibility + "}",
            "source_file": path.name,
            "source_id": "line" + pd.Series(line_no, index=num.index).astype(str),
            "source_format": "mot",
            "class_id": class_ids,
        }
    ).reset_index(drop=True)


def _mot_class_and_visibility(num: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    missing = pd.Series(np.nan, index=num.index)
    cls = num[7] if 7 in num else missing
    # MOT15 files put 3D world coordinates (floats) where MOT16+ put class and visibility.
    if (cls.dropna() % 1 != 0).any():
        cls, vis = missing, missing
    else:
        vis = num[8] if 8 in num else missing
    ids = cls.fillna(-1).astype(np.int64)
    names = ids.map(MOT_CLASSES)
    # Files without a class column (MOT15, TUD) are pedestrian benchmarks.
    names = names.where(ids != -1, "pedestrian").fillna("class_" + ids.astype(str))
    return ids, names, vis.fillna(-1.0)


def write_mot(
    df: pd.DataFrame, dest: Path, *, class_names: list[str] | None = None, image_size: tuple[int, int] | None = None,
    untracked: str = "refuse",
) -> Path:
    """MOT16+ ground-truth lines (9 fields). MOT has a fixed class list, so every class must be one of MOT_CLASSES.

    Boxes are pixels, so image_size is not needed (accepted so that every writer takes the same options). The
    visibility is the row's `visibility` attribute; an occluded row without one gets OCCLUDED_VISIBILITY (below the
    occlusion threshold), so that it reads back occluded (with that visibility as an attribute), and a row neither
    occluded nor with a visibility gets -1.

    MOT is a tracking format: every line's id is an object. Rows without a track (track_id -1) are refused, since
    one shared id would read as a single object jumping around; untracked="number" gives each such detection its
    own id instead, after the real track ids (each is then a one-box "track": fine for detection scoring, not
    identity metrics).
    """
    one_video(df, "MOT")
    rows = writing_order(df)
    class_list(rows, class_names, "MOT")
    unknown = sorted(set(rows["class_name"]) - set(_MOT_IDS))
    if unknown:
        raise ValueError(f"MOT: classes outside the MOT class list {sorted(_MOT_IDS)}: {unknown}")
    loose = rows["track_id"] < 0
    if loose.any() and untracked != "number":
        if untracked != "refuse":
            raise ValueError(f"MOT: untracked must be 'refuse' or 'number', got {untracked!r}")
        raise ValueError(f"MOT: {int(loose.sum())} of {len(rows)} rows have no track id (track_id -1); MOT ids are "
                         "objects, so pass untracked='number' to give each detection its own id")
    if loose.any():
        first = int(rows["track_id"].max()) + 1 if (~loose).any() else 1
        rows.loc[loose, "track_id"] = range(max(first, 1), max(first, 1) + int(loose.sum()))
    attrs = [attribute_values(a) for a in rows["attributes"]]
    conf = [0 if a.get("ignore") else 1 for a in attrs]
    vis = [(OCCLUDED_VISIBILITY if occluded else -1) if a.get("visibility") is None else a["visibility"]
           for a, occluded in zip(attrs, rows["occluded"].tolist())]
    xywh = (v.tolist() for v in xyxy_to_xywh(*(rows[col] for col in BOX)))
    lines = [
        f"{f + 1},{t},{x!r},{y!r},{w!r},{h!r},{c},{_MOT_IDS[name]},{v}\n"
        for f, t, x, y, w, h, c, name, v in zip(
            rows["frame_index"].tolist(), rows["track_id"].tolist(), *xywh, conf, rows["class_name"].tolist(), vis,
        )
    ]
    dest = Path(dest)
    dest.write_text("".join(lines))
    return dest
