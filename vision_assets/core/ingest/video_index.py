"""A lake-wide index of ingested videos: hash, perceptual signature, duration and where each one landed.

Ingest looks copies and re-encodes up here, in one small table, instead of reading every partition's raw_videos
table, so the cost of a new day does not grow with the number of partitions. Each ingest replaces its own
partition's rows. A lake written before the index has it built once from the partitions' tables.

Two ingests finishing at the same instant can each write the index from the same earlier state, and one
partition's rows are then missing until that partition is ingested again (only copy detection across those two
partitions is affected; raw_videos itself stays complete). `rebuild_video_index` restores it from the tables.
"""

from __future__ import annotations

import pandas as pd

from vision_assets.core.ingest.tables import read_table_or_none
from vision_assets.core.lake import Lake, keys

INDEX_COLUMNS = ["scene", "day", "source_name", "video_sha256", "outcome", "duplicate_of", "signature",
                 "duration_s", "source_size", "source_mtime_ns", "label_files", "hashed_at"]


def read_video_index(lake: Lake) -> pd.DataFrame:
    index = read_table_or_none(lake, keys.VIDEO_INDEX, None)  # a truncated index is rebuilt like a missing one
    stale = index is None or set(INDEX_COLUMNS) - set(index.columns)  # missing, or from before a column existed
    return rebuild_video_index(lake) if stale else index


def rebuild_video_index(lake: Lake) -> pd.DataFrame:
    everything = lake.read_tables(keys.RAW_VIDEOS)
    index = _index_rows(everything) if len(everything) else pd.DataFrame(columns=INDEX_COLUMNS)
    lake.write_table(keys.VIDEO_INDEX, index)
    return index


def other_partitions(index: pd.DataFrame, scene: str, day: str) -> pd.DataFrame | None:
    """The index rows of every partition but this one, shaped as ingest's `elsewhere`."""
    if index.empty:
        return None
    return index[(index["scene"] != scene) | (index["day"] != day)].reset_index(drop=True)


def update_video_index(lake: Lake, scene: str, day: str, table: pd.DataFrame) -> pd.DataFrame:
    """Replace this partition's rows with its new raw_videos table (re-read just before, to keep the window
    for a concurrent ingest short)."""
    current = read_video_index(lake)
    keep = current[(current["scene"] != scene) | (current["day"] != day)]
    index = pd.concat([keep, _index_rows(table.assign(scene=scene, day=day))], ignore_index=True)
    lake.write_table(keys.VIDEO_INDEX, index)
    return index


def known_files(index: pd.DataFrame) -> dict[tuple[str, str], set[tuple]]:
    """What the landing sensor compares the landing zone with: per (scene, day), each ingested file's name, size,
    mtime and beside-labels fingerprint. A partition whose rows the index lost looks new, and its ingest (which
    skips unchanged files) writes them back."""
    from vision_assets.core.ingest.videos import rehash_due

    known: dict[tuple[str, str], set[tuple]] = {}
    for row in index[["scene", "day", "source_name", "source_size", "source_mtime_ns", "label_files",
                      "hashed_at"]].itertuples(index=False):
        if rehash_due({"hashed_at": row.hashed_at}):  # due to be hashed again: looks new until it is
            continue
        known.setdefault((row.scene, row.day), set()).add(
            (row.source_name, row.source_size, row.source_mtime_ns, row.label_files))
    return known


def _index_rows(raw: pd.DataFrame) -> pd.DataFrame:
    defaults = {"video_sha256": "", "outcome": "", "duplicate_of": "", "signature": "", "duration_s": 0.0,
                "label_files": "", "source_size": 0, "source_mtime_ns": 0, "hashed_at": ""}  # tables from before a column existed
    rows = raw.assign(**{c: v for c, v in defaults.items() if c not in raw}).fillna(defaults)
    if "ingested_at" in rows:  # rows from before hashed_at: their ingest was their last hash
        rows = rows.assign(hashed_at=rows["hashed_at"].where(rows["hashed_at"] != "", rows["ingested_at"].fillna("")))
    return rows[INDEX_COLUMNS].astype({"scene": str, "day": str, "duration_s": float, "source_size": "int64",
                                       "source_mtime_ns": "int64"}).reset_index(drop=True)
