"""The landing zone: landing/<scene>/<YYYY-MM-DD>/<video>, with label and sidecar files beside each video.

Scene and day come from the path, or from the sidecar (`scene`, `day` or `capture_start`) for a file that
lands higher up. A file whose partition cannot be determined, whose path and sidecar disagree, whose name
tries to leave the landing zone or whose scene Dagster cannot use as a partition key is refused with a
reason, never skipped silently.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from vision_assets.core.video import VIDEO_EXTENSIONS, read_sidecar

# Characters Dagster refuses in partition keys, plus path separators.
_SCENE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
LABEL_DROP_ZONE = "annotations"  # landing/annotations/<scene>/<YYYY-MM-DD>/ holds label files, not videos
RESERVED_SCENES = frozenset({LABEL_DROP_ZONE})
LAYOUT = "landing/<scene>/<YYYY-MM-DD>/<file>"


@dataclass(frozen=True)
class LandingFile:
    path: Path
    scene: str
    day: str
    size: int
    mtime_ns: int
    refused: str = ""  # why this file cannot be ingested; empty when it can
    partition_from: str = "path"  # path | sidecar | path+sidecar
    landing_key: str = ""  # the path inside the landing zone: what records keep, so the data folder can move

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
        return f"day {day!r} is not a YYYY-MM-DD date"
    if parsed.isoformat() != day:
        return f"day {day!r} is not a YYYY-MM-DD date"
    return ""


def scan_landing(landing_dir: Path) -> list[LandingFile]:
    """Every video file under the landing zone, each accepted or refused with a reason."""
    if not landing_dir.exists():
        return []
    root = landing_dir.resolve()
    found = [_describe(path, landing_dir, root) for path in sorted(landing_dir.rglob("*"))
             if not path.name.startswith(".") and path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file()]
    return _refuse_name_clashes(found)


def _refuse_name_clashes(found: list[LandingFile]) -> list[LandingFile]:
    """A partition's videos are known by file name; a second file of the same name in the same scene and day
    (one placed by its sidecar, one by its path) would be mistaken for the first."""
    first: dict[tuple[str, str, str], Path] = {}
    result = []
    for landed in found:
        key = (landed.scene, landed.day, landed.path.name)
        if not landed.refused and key in first:
            landed = dataclasses.replace(landed, refused=f"{landed.path}: another file named {landed.path.name!r} "
                                                         f"already lands in {landed.scene}/{landed.day}: {first[key]}")
        elif not landed.refused:
            first[key] = landed.path
        result.append(landed)
    return result


def _sidecar_partition(sidecar: dict) -> tuple[str, str, str]:
    """(scene, day, problem) as the sidecar declares them; day may come from capture_start."""
    scene = str(sidecar.get("scene") or "")
    day = str(sidecar.get("day") or "")
    if not day and sidecar.get("capture_start"):
        try:
            day = dt.datetime.fromisoformat(str(sidecar["capture_start"]).replace("Z", "+00:00")).date().isoformat()
        except ValueError:
            return scene, "", f"sidecar capture_start {sidecar['capture_start']!r} is not an ISO date-time"
    return scene, day, ""


def _describe(path: Path, landing_dir: Path, root: Path) -> LandingFile:
    relative = path.relative_to(landing_dir).parts
    stat = path.stat()
    sidecar = read_sidecar(path)
    side_scene, side_day, side_problem = _sidecar_partition(sidecar)
    path_scene = relative[0] if len(relative) >= 2 else ""
    path_day = relative[1] if len(relative) == 3 else ""
    scene, day = path_scene or side_scene, path_day or side_day
    source = "+".join(s for s, used in (("path", bool(path_scene or path_day)), ("sidecar", bool(side_scene or side_day)))
                      if used) or "path"
    reason = ""
    if _CONTROL_CHARACTERS.search(str(path.relative_to(landing_dir))):
        reason = "file name contains control characters"
    elif not path.resolve().is_relative_to(root):
        reason = "resolves outside the landing zone"
    elif relative[0] == LABEL_DROP_ZONE:
        reason = f"landing/{LABEL_DROP_ZONE}/ is the label drop zone; videos go to {LAYOUT}"
    elif len(relative) > 3:
        reason = f"expected {LAYOUT}, got {'/'.join(relative)}"
    elif sidecar.get("sidecar_error"):
        reason = sidecar["sidecar_error"]
    elif side_problem:
        reason = side_problem
    elif path_scene and side_scene and path_scene != side_scene:
        reason = f"path says scene {path_scene!r}, sidecar says {side_scene!r}"
    elif path_day and side_day and path_day != side_day:
        reason = f"path says day {path_day!r}, sidecar says {side_day!r}"
    elif not scene:
        reason = f"scene cannot be determined: expected {LAYOUT} or a sidecar with \"scene\""
    elif not day:
        reason = f"day cannot be determined: expected {LAYOUT} or a sidecar with \"day\" or \"capture_start\""
    else:
        reason = scene_problem(scene) or day_problem(day)
    return LandingFile(path, scene, day, stat.st_size, stat.st_mtime_ns, f"{path}: {reason}" if reason else "", source,
                       path.relative_to(landing_dir).as_posix())


def files_for_partition(landing_dir: Path, scene: str, day: str) -> list[LandingFile]:
    return [f for f in scan_landing(landing_dir) if not f.refused and (f.scene, f.day) == (scene, day)]


def partition_fingerprint(files: list[LandingFile]) -> str:
    parts = sorted(f"{f.fingerprint}+{label_fingerprint(f.path)}" for f in files)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def label_fingerprint(video: Path) -> str:
    """Name, size and mtime of the label files beside a video: a late or corrected label file changes it."""
    return ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in label_files_for(video))


def label_files_for(video: Path) -> list[Path]:
    """Label files beside their video with the same stem (CVAT XML, MOTChallenge txt); <stem>.json is the sidecar."""
    return [p for p in (video.with_suffix(".xml"), video.with_suffix(".txt")) if p.exists()]


@dataclass(frozen=True)
class DroppedLabels:
    """A file, or a folder (YOLO: txt per frame + data yaml), in landing/annotations/<scene>/<day>/, named after
    the stem of the video it labels."""

    path: Path
    scene: str
    day: str
    video_stem: str
    fingerprint: str
    refused: str = ""


def scan_label_drop_zone(landing_dir: Path) -> list[DroppedLabels]:
    zone = landing_dir / LABEL_DROP_ZONE
    if not zone.exists():
        return []
    root = landing_dir.resolve()
    found = []
    for path in sorted(zone.glob("*/*/*")):
        if path.name.startswith("."):
            continue
        scene, day = path.parent.parent.name, path.parent.name
        reason = ("resolves outside the landing zone" if not path.resolve().is_relative_to(root)
                  else scene_problem(scene) or day_problem(day))
        found.append(DroppedLabels(path, scene, day, path.stem if path.is_file() else path.name,
                                   _tree_fingerprint(path), f"{path}: {reason}" if reason else ""))
    misplaced = [p for p in [*zone.glob("*"), *zone.glob("*/*")] if p.is_file()]
    for path in sorted(misplaced):
        if not path.name.startswith("."):
            found.append(DroppedLabels(path, "", "", path.stem, _tree_fingerprint(path),
                                       f"{path}: expected landing/{LABEL_DROP_ZONE}/<scene>/<YYYY-MM-DD>/<video stem>.<ext>"))
    return found


def dropped_labels_for(landing_dir: Path, scene: str, day: str) -> list[DroppedLabels]:
    return [d for d in scan_label_drop_zone(landing_dir) if not d.refused and (d.scene, d.day) == (scene, day)]


def _tree_fingerprint(path: Path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    parts = [f"{p.relative_to(path.parent)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
