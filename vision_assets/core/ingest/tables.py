"""Lake tables read by ingest and its reports: a partition file that cannot be read counts as not written yet, so
the partition is ingested again (its file replaced whole) instead of stopping every other partition."""

from __future__ import annotations

import logging

import pandas as pd

from vision_assets.core.lake import Lake
from vision_assets.core.lake.store import UnreadableTable

log = logging.getLogger(__name__)


def read_table_or_none(lake: Lake, table: str, partition: dict[str, str] | None) -> pd.DataFrame | None:
    """The partition's table; None when there is none or it cannot be read (named in lake.unreadable_tables)."""
    try:
        return lake.read_table(table, partition)
    except UnreadableTable as error:
        lake.unreadable_tables.append(str(error))
        log.warning("%s: treated as not written; the next run of its partition replaces it", error)
        return None
