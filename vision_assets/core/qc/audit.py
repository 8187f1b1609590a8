"""Import plus QC of label files outside the pipeline (`vision-assets qc`): counts, per-rule findings, rejected rows.

Outside the lake there is no probed video to say how large a frame is, so image sizes come from what the
file declares (COCO images, CVAT <image>/<original_size>) or from the caller; the boxes of a file without
either cannot be judged against the image bounds, and the report names those files instead of rejecting
their rows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vision_assets.core.labels.aliases import apply_aliases
from vision_assets.core.labels.canonical import AnnotationFormatError, read_annotations
from vision_assets.core.labels.formats.common import IMAGE_SIZES
from vision_assets.core.labels.formats.yolo import NAME_FILES, YAML_SUFFIXES
from vision_assets.core.qc.engine import QcConfig, run_qc, summarise

LABEL_SUFFIXES = frozenset({".json", ".xml", ".txt", *YAML_SUFFIXES})
# What marks a folder as one YOLO label set: a data yaml, a class names file, obj.data, a labels/ folder.
_YOLO_SET_MARKERS = (*(f"*{suffix}" for suffix in YAML_SUFFIXES), *NAME_FILES, "*.names", "obj.data", "labels")


def audit_labels(path: Path, fmt: str | None = None, *, image_size: tuple[int, int] | None = None,
                 class_names: list[str] | None = None, aliases: dict[str, str] | None = None) -> dict:
    """One JSON-ready report for a label file or a folder of them (a YOLO folder counts as one label set).
    class_names None: the classes the file uses; aliases map other names to them, as the import does."""
    path = Path(path)
    tables, unreadable = [], []
    for source in _label_sources(path, fmt):
        try:
            rows = apply_aliases(read_annotations(source, fmt, image_size=image_size), aliases or {})
        except (AnnotationFormatError, OSError, UnicodeDecodeError) as error:  # one bad file, its neighbours go on
            unreadable.append({"file": str(source), "error": str(error) or type(error).__name__})
            continue
        sizes = _declared_sizes(rows)
        key = rows["source_file"] + "|" + rows["image_name"]
        tables.append((rows.assign(video_sha256=key.to_numpy()), sizes))
    if not tables:
        return _report(pd.DataFrame(), None, unreadable, unsized=[])
    table = pd.concat([t for t, _ in tables], ignore_index=True)
    sizes = {key: size for _, declared in tables for key, size in declared.items()}
    if image_size is not None:
        sizes = {key: sizes.get(key, tuple(image_size)) for key in table["video_sha256"].unique()}
    unsized = sorted(table.loc[~table["video_sha256"].isin(list(sizes)), "source_file"].unique().tolist())
    known = class_names if class_names is not None else sorted(c for c in table["class_name"].unique() if c)
    # Without a size, box_outside_image cannot judge a row (it compares with NaN) and the row is not rejected.
    config = QcConfig(class_names=_names_in_id_order(table, class_names), disabled=frozenset({"unknown_image_size"}))
    result = run_qc(table, sizes, known, config=config)
    return _report(table, result, unreadable, unsized)


def _names_in_id_order(table: pd.DataFrame, class_names: list[str] | None) -> tuple[str, ...]:
    """The names list YOLO class ids index: the caller's, else as far as the file's own ids and names reveal it
    (ids beyond the last named one are exactly what the off-by-one rule looks for)."""
    if class_names is not None:
        return tuple(class_names)
    named = table[(table["class_id"] >= 0) & (table["class_name"] != "")]
    by_id = dict(zip(named["class_id"].astype(int), named["class_name"]))
    if not by_id:
        return tuple(sorted(c for c in table["class_name"].unique() if c))
    return tuple(by_id.get(i, f"id:{i}") for i in range(max(by_id) + 1))


def _label_sources(path: Path, fmt: str | None) -> list[Path]:
    if path.is_file() or fmt == "yolo":
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if _looks_like_yolo_set(path):
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES
                  and not p.name.startswith("."))


def _looks_like_yolo_set(folder: Path) -> bool:
    """A data yaml, a names file (CVAT's YOLO export: obj.names, obj.data), classes.txt or a labels/ folder mark a
    YOLO label set; any other folder is a pile of label files."""
    return any(any(folder.glob(marker)) for marker in _YOLO_SET_MARKERS)


def _declared_sizes(rows: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Frame sizes the file itself declares (the reader's df.attrs), keyed like the audit's rows
    (source file | image name)."""
    if rows.empty:
        return {}
    source_file = str(rows["source_file"].iloc[0])
    return {f"{source_file}|{image}": size for image, size in rows.attrs.get(IMAGE_SIZES, {}).items()}


def _report(table: pd.DataFrame, result, unreadable: list[dict], unsized: list[str]) -> dict:
    if result is None:
        return {"rows": 0, "frames": 0, "tracks": 0, "classes": {}, "rules": {}, "rejected": [], "flagged": [],
                "unreadable": unreadable, "files_without_image_size": unsized,
                "pass_rate": None if unreadable else 1.0}  # nothing read is no pass
    rules = summarise(result)
    tracked = table[table["track_id"] >= 0]
    return {
        "rows": int(len(table)),
        "frames": int(table[["video_sha256", "frame_index"]].drop_duplicates().shape[0]),
        "tracks": int(tracked[["source_file", "track_id"]].drop_duplicates().shape[0]),
        "classes": {str(k): int(v) for k, v in table["class_name"].value_counts().sort_index().items()},
        "formats": {str(k): int(v) for k, v in table["source_format"].value_counts().items()},
        "rules": {str(r.rule): int(r.rows) for r in rules.itertuples() if r.rule != "unknown_image_size"},
        "severities": {str(r.rule): str(r.severity) for r in rules.itertuples()},
        "pass_rate": float(result.pass_rate),
        "rejected": _rows(result.rejected),
        "flagged": _rows(result.flagged),
        "agreement": result.agreement.to_dict("records"),
        "review": int(len(result.review)),
        "unreadable": unreadable,
        "files_without_image_size": unsized,  # box_outside_image could not judge their boxes
    }


def _rows(rows: pd.DataFrame) -> list[dict]:
    return [{"source_id": _source_id(r.source_id, r.source_format), "source_file": r.source_file,
             "frame_index": int(r.frame_index), "class_name": r.class_name, "box": [r.x1, r.y1, r.x2, r.y2],
             "rules": r.reasons.split(";")} for r in rows.itertuples()]


def _source_id(source_id: str, fmt: str) -> int | str:
    """COCO annotation ids and MOT line numbers as the integers they are in their files."""
    text = source_id.removeprefix("line") if fmt == "mot" else source_id
    return int(text) if fmt in ("coco", "mot") and text.isdigit() else source_id
