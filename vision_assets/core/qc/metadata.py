"""Row rules on what the source declared beside the boxes: a declared area, class ids against the names list, and
findings the reader recorded about the file (an absolute path in a YOLO data yaml).

Registered after the track and agreement rules (the engine imports this module last), as they always were.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vision_assets.core import geometry
from vision_assets.core.qc.arrays import codes, row_arrays
from vision_assets.core.qc.registry import ERROR, WARNING, QcContext, QcRule, qc_rule

METADATA_RULES: list[QcRule] = []  # this module's rules, in the order they are defined

# A plain pattern string (not a compiled one) keeps str.contains on pyarrow's regex engine instead of Python's.
_SEGMENTATION = r'"segmentation"\s*:\s*(?:true|"[a-z]+")'  # the COCO reader records the kind: "polygon" or "rle"


@qc_rule("area_mismatch", WARNING, "the declared area disagrees with the box (beyond area_tolerance)",
         registry=METADATA_RULES)
def _area_mismatch(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    a = row_arrays(df, ctx)
    hit = np.zeros(a.n, dtype=bool)
    declared = df["declared_area"].to_numpy(dtype=np.float64)
    rows = np.flatnonzero(np.isfinite(declared))
    if len(rows) == 0:
        return hit
    tol = ctx.config.area_tolerance
    area = geometry.area(*a.box(rows))
    declared = declared[rows]
    # A segmentation's area may be anything up to its box; without one the area is the box's own.
    segmented = df["attributes"].iloc[rows].astype(str).str.contains(_SEGMENTATION).to_numpy(dtype=bool)
    larger_than_box = declared > area * (1 + tol)
    off = ~segmented & (np.abs(declared - area) > tol * area)
    hit[rows[larger_than_box | off]] = True
    return hit


@qc_rule("class_id_off_by_one", ERROR, "a file's class ids run 1..n against n names: every class is shifted by one",
         registry=METADATA_RULES)
def _class_id_off_by_one(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    # Only formats whose id is a position in the names list: COCO category ids and MOT classes are 1-based by design.
    a = row_arrays(df, ctx)
    hit = np.zeros(a.n, dtype=bool)
    n_names = len(ctx.class_names)
    if a.n == 0 or n_names == 0:
        return hit
    fmt, formats = codes(df["source_format"])
    indexed = np.isin(formats, list(ctx.config.id_indexed_formats))
    ids = df["class_id"].to_numpy(dtype=np.int64)
    rows = np.flatnonzero(indexed[fmt] & (ids >= 0))
    if len(rows) == 0:
        return hit
    # A YOLO dataset is one txt per frame: ids are judged over the whole dataset (source_file "<root>/labels/..."),
    # since a single frame rarely holds every class.
    root_of_file, datasets = codes(pd.Series([str(f).split("/", 1)[0] for f in a.files], dtype=object))
    dataset = root_of_file[a.file] if len(root_of_file) else np.zeros(a.n, dtype=np.int64)
    low = np.full(len(datasets), np.iinfo(np.int64).max)
    high = np.full(len(datasets), -1)
    np.minimum.at(low, dataset[rows], ids[rows])
    np.maximum.at(high, dataset[rows], ids[rows])
    shifted = (low >= 1) & (high == n_names)
    hit[rows[shifted[dataset[rows]]]] = True
    return hit


@qc_rule("absolute_path_in_data_yaml", WARNING, "the file's data yaml names an absolute path (not portable)",
         registry=METADATA_RULES)
def _absolute_path_in_data_yaml(df: pd.DataFrame, ctx: QcContext) -> np.ndarray:
    values, findings = codes(df["file_findings"].fillna("").astype(str))
    found = np.array(["absolute_path_in_data_yaml" in str(f).split(";") for f in findings], dtype=bool)
    return found[values] if len(values) else np.zeros(0, dtype=bool)
