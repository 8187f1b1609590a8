"""Which folder is full: a failed write explained by the place that has no room.

SQLite says `database or disk is full` or just `disk I/O error`, and a Python write says `[Errno 28] No space
left on device`; none of them says which of the data folder's parts (the Dagster instance, the MLflow store,
the lake, the work folder) the failing write went to. An operator needs the folder to free space in."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG})
_FULL_MESSAGES = ("database or disk is full", "no space left on device", "disk quota exceeded")
_FAILING_MESSAGES = ("disk i/o error",)
_READ_ONLY_MESSAGES = ("attempt to write a readonly database", "read-only file system")


def _chain(error: BaseException):
    """The error, what caused it and what SQLAlchemy wraps (`.orig`), each once."""
    seen, pending = set(), [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__, getattr(current, "orig", None)]


def storage_problem(error: BaseException) -> tuple[str, str, str]:
    """("full" | "failing" | "read-only" | "", the path the error names or "", the low-level message)."""
    for current in _chain(error):
        text = str(current).lower()
        path = str(getattr(current, "filename", None) or "")
        said = str(getattr(current, "orig", None) or current).strip().splitlines()[0][:200] if str(current).strip() else ""
        code = current.errno if isinstance(current, OSError) else None
        if code in _FULL_ERRNOS or any(m in text for m in _FULL_MESSAGES):
            return "full", path, said
        if code == errno.EROFS or any(m in text for m in _READ_ONLY_MESSAGES):
            return "read-only", path, said
        if code == errno.EIO or any(m in text for m in _FAILING_MESSAGES):
            return "failing", path, said
    return "", "", ""


def data_folders() -> list[Path]:
    """The local folders a command writes to, from the same settings it runs with."""
    from vision_assets.settings import Settings

    settings = Settings.from_env()
    folders = [settings.data_dir, settings.dagster_home, settings.work_dir, settings.landing_dir]
    if settings.mlflow_tracking_uri.startswith("sqlite:///"):
        folders.append(Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///").split("?", 1)[0]).parent)
    if "://" not in settings.lake_root:
        folders.append(Path(settings.lake_root))
    return list(dict.fromkeys(folders))


def _existing(path: Path) -> Path | None:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate if candidate.is_dir() else candidate.parent
    return None


def fullest_folder(candidates: list[Path]) -> tuple[Path, int] | None:
    """(the folder whose disk has the least free space, its free bytes), among those that exist."""
    measured = []
    for order, folder in enumerate(candidates):  # on one shared disk, the first (the data folder) is named
        existing = _existing(Path(folder))
        if existing is None:
            continue
        try:
            measured.append((shutil.disk_usage(existing).free, order, Path(folder)))
        except OSError:
            continue
    if not measured:
        return None
    free, _, folder = min(measured)
    return folder, free


def full_folder_message(error: BaseException) -> str:
    """`<folder>: disk full, <free> free on its disk (<what the failing write said>)` for an error caused by a full, failing or read-only disk; else ""."""
    kind, path, said = storage_problem(error)
    if not kind:
        return ""
    candidates = [Path(path)] if path else data_folders()
    found = fullest_folder(candidates) or fullest_folder(data_folders())
    folder, free = found if found else (Path(path or os.getcwd()), 0)
    problem = {"full": "disk full", "failing": "disk full or failing (SQLite reports either as a disk I/O error)",
               "read-only": "not writable (read-only disk or database)"}[kind]
    return f"{folder}: {problem}, {_size(free)} free on its disk ({said})"


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} B"
