"""The landing zone: landing/<scene>/<YYYY-MM-DD>/<video>, plus label and sidecar files beside each video."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from vision_assets.core.video import VIDEO_EXTENSIONS

# Characters Dagster refuses in partition keys, plus path separators.
_SCENE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
RESERVED_SCENES = frozenset({"annotations"})  # landing/annotations/ is the label drop zone


@dataclass(frozen=True)
class LandingFile:
    path: Path
    scene: str
    day: str
    size: int
    mtime_ns: int
    refused: str = ""  # why this file cannot be ingested; empty when it can

    @property
    def fingerprint(self) -> str:
        return f"{self.path.name}:{self.size}:{self.mtime_ns}"


def scene_problem(scene: str) -> str:
    if scene in RESERVED_SCENES:
        return f"scene name {scene!r} is reserved"
    if not _SCENE_PATTERN.match(scene) or "..." in scene:
        return f"scene name {scene!r} is not usable as a partition key (letters, digits, '_', '-', '.'; max 64)"
    return ""


def day_problem(day: str) -> str:
    try:
        parsed = dt.date.fromisoformat(day)
    except ValueError:
        return f"day folder {day!r} is not a YYYY-MM-DD date"
    if parsed.isoformat() != day:
        return f"day folder {day!r} is not a YYYY-MM-DD date"
    return ""


def scan_landing(landing_dir: Path, folder: Path | None = None) -> list[LandingFile]:
    """Every video file under the landing zone (or one folder of it), each accepted or refused with a reason."""
    folder = folder or landing_dir
    if not folder.exists():
        return []
    root = landing_dir.resolve()
    return [_describe(path, landing_dir, root) for path in sorted(folder.rglob("*"))
            if not path.name.startswith(".") and path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file()]


def _describe(path: Path, landing_dir: Path, root: Path) -> LandingFile:
    relative = path.relative_to(landing_dir).parts
    stat = path.stat()
    scene, day = (relative[0], relative[1]) if len(relative) == 3 else ("", "")
    if len(relative) != 3:
        reason = f"expected landing/<scene>/<YYYY-MM-DD>/<file>, got {'/'.join(relative)}"
    elif not path.resolve().is_relative_to(root):
        reason = "resolves outside the landing zone"
    else:
        reason = scene_problem(scene) or day_problem(day)
    return LandingFile(path, scene, day, stat.st_size, stat.st_mtime_ns, f"{path}: {reason}" if reason else "")


def files_for_partition(landing_dir: Path, scene: str, day: str) -> list[LandingFile]:
    return [f for f in scan_landing(landing_dir, landing_dir / scene / day) if not f.refused]


def partition_fingerprint(files: list[LandingFile]) -> str:
    parts = sorted(f"{f.fingerprint}+{label_fingerprint(f.path)}" for f in files)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def label_fingerprint(video: Path) -> str:
    """Name, size and mtime of the label files beside a video: a late or corrected label file changes it."""
    return ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in label_files_for(video))


def label_files_for(video: Path) -> list[Path]:
    """Label files travel beside their video with the same stem (CVAT XML, MOTChallenge txt)."""
    return [p for p in (video.with_suffix(".xml"), video.with_suffix(".txt")) if p.exists()]
