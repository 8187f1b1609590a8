"""Staged video copies a killed ingest left behind.

Ingest copies each video to a private name in lake/staging while hashing it, then renames it into place;
a process killed in between leaves the copy there for good. Only a caller that knows no ingest is running
(no run in flight) may remove them all; otherwise only copies older than any ingest could take are removed.
"""

from __future__ import annotations

import time
from pathlib import Path

from vision_assets.core.lake import Lake, keys

# A staged copy untouched this long belongs to no live ingest (copying writes it continuously).
STALE_AFTER_S = 24 * 3600


def remove_orphaned_staging(lake: Lake, *, ingest_running: bool) -> list[str]:
    """Remove orphaned staged copies; returns their lake keys."""
    if not lake.is_local:
        return []  # object-store lakes stage in the local work folder, never in the lake
    staging = Path(lake.path(keys.STAGING))
    if not staging.is_dir():
        return []
    cutoff = time.time() - STALE_AFTER_S
    removed = []
    for entry in sorted(staging.iterdir()):
        if not entry.is_file() or entry.is_symlink():
            continue
        if ingest_running and entry.stat().st_mtime > cutoff:
            continue
        entry.unlink(missing_ok=True)
        removed.append(f"{keys.STAGING}/{entry.name}")
    return removed
