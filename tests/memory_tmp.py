"""Temporary files of a test run in memory (/dev/shm) where the machine has room for them.

Most of the suite's wall time on a small machine is SQLite committing: Dagster opens, writes and closes its run,
event and schedule databases, MLflow its store, hundreds of times a run, and every commit waits for the disk
(fsync). On tmpfs a commit is a memory copy: the same work, the same files, without the waits. An explicit TMPDIR
always wins, and without a roomy tmpfs (macOS, a container's 64 MB /dev/shm) everything stays where it was."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SHM = Path("/dev/shm")
ROOM = 4 << 30  # free bytes needed: the full suite keeps well under 1 GiB there at once


def _is_tmpfs(path: Path) -> bool:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    return any(line.split()[1:3] == [str(path), "tmpfs"] for line in mounts if len(line.split()) > 2)


def use_memory_for_temp_files() -> Path | None:
    """Point TMPDIR (this process, pytest's tmp_path and every subprocess) at a folder on /dev/shm; returns it."""
    if os.environ.get("TMPDIR") or not _is_tmpfs(SHM) or not os.access(SHM, os.W_OK):
        return None
    stats = os.statvfs(SHM)
    if stats.f_bavail * stats.f_frsize < ROOM:
        return None
    folder = SHM / f"vision_assets_tests_{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None  # gettempdir() looks again
    return folder
