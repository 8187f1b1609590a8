"""Finding an evaluation's error table and exporting its rows and crops for people to look through."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from vision_assets.core.errors import VisionError
from vision_assets.core.evaluation.error_table import caption, filter_errors
from vision_assets.core.lake import Lake, atomic_write_bytes, keys

LISTED_COLUMNS = ["kind", "scene", "video_sha256", "frame_index", "class_name", "gt_class_name", "score", "iou",
                  "track_id", "previous_track_id", "gt_track_id", "crop_key"]


class EvaluationNotFound(VisionError, LookupError):
    """No stored evaluation answers to what was asked for; the message says what was looked for."""


def find_report(lake: Lake, reference: str) -> dict:
    """An evaluation by its key, or the latest evaluation of a checkpoint by its sha256 (or a prefix of 16+)."""
    if not re.fullmatch(r"[0-9a-f-]{8,}", reference):
        raise EvaluationNotFound(f"{reference!r} is neither an evaluation key nor a checkpoint sha256")
    record = keys.evaluation_record_key(reference)
    if lake.exists(record):
        return lake.read_json(record)
    latest = f"{keys.report_folder(reference)}/eval.json"
    if len(reference) >= 16 and lake.exists(latest):
        return lake.read_json(latest)
    raise EvaluationNotFound(f"no evaluation {reference} in {lake.root} (neither {record} nor {latest})")


def error_rows(lake: Lake, report: dict, *, kind: str | None = None, class_name: str | None = None) -> pd.DataFrame:
    """The report's error table, worst first within each kind, optionally of one kind and class."""
    key = (report.get("errors") or {}).get("table")
    if not key or not lake.exists(key):
        raise EvaluationNotFound(f"evaluation {report.get('evaluation_key', '?')} has no error table in {lake.root}")
    with lake.fs.open(lake.path(key), "rb") as handle:
        table = pd.read_parquet(handle)
    rows = filter_errors(table, kind=kind, class_name=class_name)
    return rows.sort_values(["kind", "severity"], ascending=[True, False], kind="stable").reset_index(drop=True)


def export_errors(lake: Lake, rows: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Each row's crop as <n>_<kind>_<class>.jpg plus errors.csv (the rows with a caption and the file name)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written, names = [], []
    for n, row in enumerate(rows.to_dict("records")):
        name = ""
        if row.get("crop_key") and lake.exists(row["crop_key"]):
            label = re.sub(r"[^A-Za-z0-9_.-]", "_", str(row.get("class_name") or row.get("gt_track_id") or "x"))
            name = f"{n:04d}_{row['kind']}_{label}.jpg"
            atomic_write_bytes(out_dir / name, lake.fs.cat_file(lake.path(row["crop_key"])))
            written.append(out_dir / name)
        names.append(name)
    listing = rows.assign(caption=[caption(r) for r in rows.to_dict("records")], file=names)
    atomic_write_bytes(out_dir / "errors.csv", listing.to_csv(index=False).encode())
    return [*written, out_dir / "errors.csv"]
