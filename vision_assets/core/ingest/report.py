"""What became of each file in the landing zone: the per-file fate report that `vision-assets ingest` prints.

Read back from the lake tables the ingest runs wrote, so the report says what the lake holds, not what a run
meant to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from vision_assets.core.ingest.landing import DroppedLabels, LandingFile, scan_label_drop_zone, scan_landing
from vision_assets.core.ingest.tables import read_table_or_none
from vision_assets.core.lake import Lake, keys


def ingest_report(lake: Lake, landing_dir: Path, partitions: Iterable[str]) -> list[dict]:
    """ingested / duplicate / near-duplicate / truncated / quarantined / refused / unchanged, file by file.

    `partitions` are the "day|scene" keys of the ingest runs just made: an ingested file outside them was
    ingested by an earlier run, so it is reported "unchanged"."""
    tables = _PartitionTables(lake, keys.RAW_VIDEOS)
    run_partitions = {tuple(p.split("|")[::-1]) for p in partitions}  # "day|scene" -> (scene, day)
    return [_refused(landed.path, landed.refused) if landed.refused else
            _video_fate(landed, tables.first(landed.scene, landed.day, "source_name", landed.path.name), run_partitions)
            for landed in scan_landing(landing_dir)]


def label_drop_report(lake: Lake, landing_dir: Path) -> list[dict]:
    """Each entry of the label drop zone: imported (with its rows), unmatched, unreadable, waiting or refused."""
    tables, videos = _PartitionTables(lake, keys.LABEL_SOURCES), _PartitionTables(lake, keys.RAW_VIDEOS)
    return [_refused(entry.path, entry.refused) if entry.refused else
            _label_fate(entry, tables.rows(entry.scene, entry.day, "fingerprint", entry.fingerprint),
                        videos.has_rows(entry.scene, entry.day))
            for entry in scan_label_drop_zone(landing_dir)]


class _PartitionTables:
    """One read of a lake table per scene x day, however many landed files point at it."""

    def __init__(self, lake: Lake, table: str):
        self.lake, self.table, self.cache = lake, table, {}

    def _table(self, scene: str, day: str) -> pd.DataFrame | None:
        if (scene, day) not in self.cache:
            self.cache[scene, day] = read_table_or_none(self.lake, self.table, {"scene": scene, "day": day})
        return self.cache[scene, day]

    def has_rows(self, scene: str, day: str) -> bool:
        table = self._table(scene, day)
        return table is not None and len(table) > 0

    def rows(self, scene: str, day: str, column: str, value: str) -> pd.DataFrame | None:
        """The partition's rows whose `column` is `value`; None if there is none, or no such table yet."""
        table = self._table(scene, day)
        rows = table[table[column] == value] if table is not None and column in table else []
        return rows if len(rows) else None

    def first(self, scene: str, day: str, column: str, value: str) -> pd.Series | None:
        """The partition's first row whose `column` is `value`; None if there is none, or no such table yet."""
        rows = self.rows(scene, day, column, value)
        return None if rows is None else rows.iloc[0]


def _video_fate(landed: LandingFile, row: pd.Series | None, run_partitions: set[tuple[str, ...]]) -> dict:
    if row is None:
        return {"file": str(landed.path), "status": "not ingested", "detail": "ingest run failed"}
    status, detail = _file_status(row)
    if (landed.scene, landed.day) not in run_partitions and status == "ingested":
        status = "unchanged"
    return {"file": str(landed.path), "status": status, "detail": detail,
            "video_sha256": row["video_sha256"], "scene": landed.scene, "day": landed.day}


def _label_fate(entry: DroppedLabels, rows: pd.DataFrame | None, partition_has_videos: bool) -> dict:
    """A label_sources row's "format" is the reader that imported the file, or why none could. A Label Studio export
    split by video has a row per video it labelled."""
    row = None if rows is None else rows.iloc[0]
    if row is None and partition_has_videos:
        return {"file": str(entry.path), "status": "not imported",
                "detail": f"the label import of {entry.scene}/{entry.day} has not taken it in (failed or not run yet)"}
    if row is None:
        return {"file": str(entry.path), "status": "waiting", "detail": "no videos of its partition yet"}
    status = {"unmatched": "unmatched", "unreadable": "unreadable", "ambiguous": "refused"}.get(row["format"], "labels")
    detail = {"unmatched": f"no video named {entry.video_stem} in {entry.scene}/{entry.day}",
              "unreadable": "see the annotations asset's label_files_readable check",
              "ambiguous": f"several videos of {entry.scene}/{entry.day} share the stem {entry.video_stem!r}; name "
                           "it after the full video name"}.get(row["format"], f"{row['rows']} {row['format']} rows")
    if status != "labels" and isinstance(row.get("problem"), str) and row["problem"]:
        detail = row["problem"]  # what the import found (tables written before the column fall back to the above)
    if status == "labels" and len(rows) > 1:
        detail = f"{int(rows['rows'].sum())} {row['format']} rows for {len(rows)} videos"
    notes = [n for n in (rows["note"] if "note" in rows else []) if isinstance(n, str) and n]
    if status == "labels" and notes:
        detail = f"{detail} ({'; '.join(notes)})"
    return {"file": str(entry.path), "status": status, "detail": detail}


def _refused(path: Path, refused: str) -> dict:
    # The scanner's reason starts with the path, which the report already shows in its "file" field.
    return {"file": str(path), "status": "refused", "detail": refused.removeprefix(f"{path}: ")}


def _file_status(row: pd.Series) -> tuple[str, str]:
    """A raw_videos row as (status, detail): its outcome, or for a decoded file whether it was new footage."""
    if row["outcome"] != "ok":
        return row["outcome"], row["reason"]
    if row["duplicate_of"]:
        return "duplicate", f"same bytes as {row['duplicate_of']}"
    if row.get("near_duplicate_of"):
        return "near-duplicate", (f"re-encode of {row['near_duplicate_of']} "
                                  f"(signature distance {row['near_duplicate_distance']:.1f})")
    return "ingested", f"{row['frames_decoded']} frames, {row['duration_s']:.1f} s, {row['codec']}"
