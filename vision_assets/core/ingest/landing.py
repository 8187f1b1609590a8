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
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from vision_assets.core.ingest.sidecar import load_sidecar, sidecar_partition
from vision_assets.core.input_files import InputLimits, file_problem, inside
from vision_assets.core.video import VIDEO_EXTENSIONS

# Characters Dagster refuses in partition keys, plus path separators.
_SCENE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
LABEL_DROP_ZONE = "annotations"  # landing/annotations/<scene>/<YYYY-MM-DD>/ holds label files, not videos
RESERVED_SCENES = frozenset({LABEL_DROP_ZONE})
LAYOUT = "landing/<scene>/<YYYY-MM-DD>/<file>"
SIDECAR_SUFFIX = ".json"
LABEL_SUFFIXES = (".xml", ".txt")  # beside a video: CVAT for video XML, MOTChallenge txt
COMPANION_SUFFIXES = (SIDECAR_SUFFIX, *LABEL_SUFFIXES)
# MOTChallenge's own names for a sequence's ground truth: gt.txt beside the only video of its folder, or
# <video stem>/gt/gt.txt beside the video (the layout of a MOT sequence folder).
MOT_GT_NAME = "gt.txt"
MOT_GT_FOLDER = "gt"


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
    sidecar: dict = field(default_factory=dict, compare=False)  # validated (sidecar.py), {} without one
    labels: tuple[Path, ...] = ()  # the label files beside it that are read (containment checked)

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


def scan_landing(landing_dir: Path, limits: InputLimits | None = None,
                 partition: tuple[str, str] | None = None) -> list[LandingFile]:
    """Every entry of the landing zone that is not a sidecar or label file read with its video: each video
    accepted or refused with a reason, and every other entry (hidden, linked folder, FIFO, stray or ambiguous
    file) refused with its reason. Nothing is skipped silently; the label drop zone has its own scan."""
    if not landing_dir.exists():
        return []
    limits = limits or InputLimits.from_env()
    root = Path(os.path.realpath(landing_dir))
    found: list[LandingFile] = []
    for folder, files, refused in _walk(landing_dir, partition):
        in_drop_zone = folder.relative_to(landing_dir).parts[:1] == (LABEL_DROP_ZONE,)
        if not in_drop_zone:
            found += [_refused_entry(path, landing_dir, reason) for path, reason in refused]
        videos = [p for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
        if in_drop_zone:  # labels are scan_label_drop_zone's; a video there is in the wrong place
            found += [_describe(v, landing_dir, root, Companions(), limits) for v in videos]
            continue
        companions, strays = folder_companions(files, root, limits)
        found += [_describe(v, landing_dir, root, companions.get(v.name, Companions()), limits) for v in videos]
        found += [_refused_entry(path, landing_dir, reason) for path, reason in strays]
    return _refuse_name_clashes(sorted(found, key=lambda f: f.path))


def _nested_gt_owner(path: Path) -> tuple[Path | None, str]:
    """For <folder>/<stem>/gt/gt.txt: the one video of <folder> with that stem, or None and why it has no owner
    ("" when the path is not laid out as a MOT sequence's ground truth at all)."""
    if path.name != MOT_GT_NAME or path.parent.name != MOT_GT_FOLDER:
        return None, ""
    stem_dir = path.parent.parent
    try:
        beside = [Path(e.path) for e in os.scandir(stem_dir.parent) if not e.name.startswith(".")
                  and e.is_file() and Path(e.name).suffix.lower() in VIDEO_EXTENSIONS]
    except OSError:
        return None, ""
    owners = [v for v in beside if v.stem == stem_dir.name]
    if len(owners) == 1:
        return owners[0], ""
    if owners:
        names = " and ".join(sorted(v.name for v in owners))
        return None, f"ambiguous: {names} share the stem {stem_dir.name!r}; name it after the full video name"
    return None, f"no video named {stem_dir.name}.<ext> beside the folder {stem_dir.name}/"


def _walk(landing_dir: Path, partition: tuple[str, str] | None = None):
    """(folder, its plain files, its refused entries) for every folder, without following links to folders.

    With a partition, only the folders whose files can land in it (the top, its scene's folder, its day's folder):
    other scenes and days are never looked at, so one partition's scan stays flat as days of history pile up."""
    pending = [landing_dir]
    while pending:
        folder = pending.pop()
        if partition and not _may_hold(folder.relative_to(landing_dir).parts, partition):
            continue
        files, refused = [], []
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as error:
            yield folder, [], [(folder, f"folder cannot be listed ({error.strerror or error})")]
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith("."):
                refused.append((path, "hidden name (starting with '.'): not ingested"))
            elif entry.is_symlink() and entry.is_dir():
                refused.append((path, "is a symbolic link to a folder: linked folders are not followed"))
            elif entry.is_dir(follow_symlinks=False):
                pending.append(path)
            else:
                files.append(path)
        yield folder, files, refused


def _may_hold(parts: tuple[str, ...], partition: tuple[str, str]) -> bool:
    # Files land at the top or a scene's top (placed by their sidecar) or at scene/day/; deeper ones are refused.
    return not parts or (parts[0] == partition[0] and (len(parts) == 1 or parts[1] == partition[1]))


@dataclass(frozen=True)
class Companions:
    sidecar: Path | None = None
    labels: tuple[Path, ...] = ()
    problem: str = ""  # a sidecar that cannot be read refuses its video


def folder_companions(files: list[Path], root: Path, limits: InputLimits) -> tuple[dict[str, Companions], list]:
    """Sidecar and label files of each video of one folder, by the video's file name, and the files that belong to
    no video or cannot be read, each with its reason.

    A companion is named after its video's full name (v.mp4.json, v.mp4.xml) or its stem (v.json) when no other
    video of the folder shares the stem: v.xml beside v.mp4 and v.mkv is refused as ambiguous, never given to both."""
    videos = [p for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
    by_stem: dict[str, list[Path]] = {}
    for video in videos:
        by_stem.setdefault(video.stem, []).append(video)
    by_name = {v.name: v for v in videos}
    sidecars: dict[str, Path] = {}
    labels: dict[str, list[Path]] = {}
    problems: dict[str, str] = {}
    strays = []
    named_in_full = {(p.stem, p.suffix.lower()) for p in files if p.stem in by_name}
    for path in files:
        suffix = path.suffix.lower()
        if suffix in VIDEO_EXTENSIONS:
            continue
        if suffix not in COMPANION_SUFFIXES:
            strays.append((path, f"not a video ({', '.join(sorted(VIDEO_EXTENSIONS))}) nor the sidecar (.json) or "
                                 f"label file ({', '.join(LABEL_SUFFIXES)}) of one"))
            continue
        owner = by_name.get(path.stem)
        if owner is None and path.name == MOT_GT_NAME and not by_stem.get(path.stem):
            nested, why_not = _nested_gt_owner(path)
            if why_not:
                strays.append((path, f"MOTChallenge ground truth for {path.parent.parent.name}: {why_not}"))
                continue
            if nested is not None:
                problem = file_problem(path, root, limits.max_label_bytes, zone_name="the landing zone")
                if problem:
                    strays.append((path, f"label file {problem}"))
                continue  # otherwise its video's folder reads it (see below)
            if len(videos) != 1:
                strays.append((path, _gt_problem(videos)))
                continue
            owner = videos[0]
        if owner is None:
            same_stem = by_stem.get(path.stem, [])
            if len(same_stem) > 1:
                names = " and ".join(sorted(v.name for v in same_stem))
                strays.append((path, f"ambiguous: {names} share the stem {path.stem!r}; name it after the full "
                                     f"video name ({same_stem[0].name}{path.suffix})"))
                continue
            if not same_stem:
                strays.append((path, "no video of this name beside it"))
                continue
            owner = same_stem[0]
            if (owner.name, suffix) in named_in_full:
                strays.append((path, f"{owner.name}{path.suffix} is the {_role(suffix)} of {owner.name}; this "
                                     "stem-named one is not read"))
                continue
        problem = file_problem(path, root, limits.max_label_bytes, zone_name="the landing zone")
        if suffix == SIDECAR_SUFFIX:
            if problem:
                problems[owner.name] = f"sidecar {path.name} {problem}"
            else:
                sidecars[owner.name] = path
        elif problem:
            strays.append((path, f"label file {problem}"))
        else:
            labels.setdefault(owner.name, []).append(path)
    for video in videos:
        nested = video.parent / video.stem / MOT_GT_FOLDER / MOT_GT_NAME
        if (os.path.lexists(nested) and _nested_gt_owner(nested)[0] == video
                and not file_problem(nested, root, limits.max_label_bytes, zone_name="the landing zone")):
            labels.setdefault(video.name, []).append(nested)
    names = set(sidecars) | set(labels) | set(problems)
    return {n: Companions(sidecars.get(n), tuple(sorted(labels.get(n, []))), problems.get(n, "")) for n in names}, strays


def _gt_problem(videos: list[Path]) -> str:
    if not videos:
        return (f"MOTChallenge ground truth ({MOT_GT_NAME}) with no video beside it: put it beside the one video it "
                f"labels, or name it after that video (<video>.txt)")
    names = ", ".join(sorted(v.name for v in videos))
    return (f"MOTChallenge ground truth ({MOT_GT_NAME}) beside {len(videos)} videos ({names}): which one it labels "
            f"cannot be told; name it after its video (<video>.txt) or put it in <video stem>/{MOT_GT_FOLDER}/"
            f"{MOT_GT_NAME}")


def _role(suffix: str) -> str:
    return "sidecar" if suffix == SIDECAR_SUFFIX else "label file"


def _refused_entry(path: Path, landing_dir: Path, reason: str) -> LandingFile:
    try:
        info = os.lstat(path)
        size, mtime = info.st_size, info.st_mtime_ns
    except OSError:
        size, mtime = 0, 0
    return LandingFile(path, "", "", size, mtime, f"{path}: {reason}", landing_key=_landing_key(path, landing_dir))


def _landing_key(path: Path, landing_dir: Path) -> str:
    return path.relative_to(landing_dir).as_posix()


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


def _describe(path: Path, landing_dir: Path, root: Path, companions: Companions, limits: InputLimits) -> LandingFile:
    relative = path.relative_to(landing_dir).parts
    try:
        stat = path.stat()
        size, mtime = stat.st_size, stat.st_mtime_ns
    except OSError:
        size, mtime = 0, 0
    sidecar, sidecar_error = ({}, companions.problem) if companions.problem else (
        load_sidecar(companions.sidecar, limits) if companions.sidecar else ({}, ""))
    side_scene, side_day = sidecar_partition(sidecar)
    path_scene = relative[0] if len(relative) >= 2 else ""
    path_day = relative[1] if len(relative) == 3 else ""
    scene, day = path_scene or side_scene, path_day or side_day
    source = "+".join(s for s, used in (("path", bool(path_scene or path_day)), ("sidecar", bool(side_scene or side_day)))
                      if used) or "path"
    reason = ""
    if _CONTROL_CHARACTERS.search(str(path.relative_to(landing_dir))):
        reason = "file name contains control characters"
    elif problem := file_problem(path, root, limits.max_file_bytes, links=True, zone_name="the landing zone"):
        reason = problem  # before anything reads or copies it: a FIFO, an escape or a 5 GiB file stays where it is
    elif relative[0] == LABEL_DROP_ZONE:
        reason = f"landing/{LABEL_DROP_ZONE}/ is the label drop zone; videos go to {LAYOUT}"
    elif len(relative) > 3:
        reason = f"expected {LAYOUT}, got {'/'.join(relative)}"
    elif sidecar_error:
        reason = sidecar_error
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
    return LandingFile(path, scene, day, size, mtime, f"{path}: {reason}" if reason else "", source,
                       _landing_key(path, landing_dir), sidecar, companions.labels)


def files_for_partition(landing_dir: Path, scene: str, day: str) -> list[LandingFile]:
    found = scan_landing(landing_dir, partition=(scene, day))
    return [f for f in found if not f.refused and (f.scene, f.day) == (scene, day)]


def partition_fingerprint(files: list[LandingFile]) -> str:
    parts = sorted(f"{f.fingerprint}+{labels_fingerprint(f.labels)}" for f in files)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def labels_fingerprint(labels) -> str:
    """Name, size and mtime of label files: a late or corrected label file changes it."""
    parts = []
    for path in labels:
        try:
            info = os.stat(path)
        except OSError:
            continue
        parts.append(f"{path.name}:{info.st_size}:{info.st_mtime_ns}")
    return ";".join(parts)


def label_fingerprint(video: Path) -> str:
    return labels_fingerprint(label_files_for(video))


def label_files_for(video: Path, limits: InputLimits | None = None) -> list[Path]:
    """The label files beside a video that are read with it (CVAT XML, MOTChallenge txt): named after it, regular
    files inside the landing zone folder it lies in; <name>.json is the sidecar."""
    video = Path(video)
    if not video.parent.is_dir():
        return []
    files = [Path(e.path) for e in os.scandir(video.parent)
             if not e.name.startswith(".") and not e.is_dir(follow_symlinks=False)]
    companions, _ = folder_companions(files, Path(os.path.realpath(video.parent)), limits or InputLimits.from_env())
    return list(companions.get(video.name, Companions()).labels)


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


def scan_label_drop_zone(landing_dir: Path, limits: InputLimits | None = None) -> list[DroppedLabels]:
    """Every entry of landing/annotations/<scene>/<day>/, accepted or refused with its reason: hidden names, links,
    FIFOs and other non-regular files, files over the label size limit, and folders holding any of those are
    refused before anything reads them."""
    zone = landing_dir / LABEL_DROP_ZONE
    if not zone.exists() and not zone.is_symlink():
        return []
    limits = limits or InputLimits.from_env()
    root = Path(os.path.realpath(landing_dir))
    if zone.is_symlink():
        return [_refused_drop(zone, "is a symbolic link: the label drop zone must be a folder of the landing zone")]
    found = []
    for scene_dir, scene_problem_ in _drop_level(zone, found, "scene"):
        for day_dir, day_problem_ in _drop_level(scene_dir, found, "day"):
            scene, day = scene_dir.name, day_dir.name
            for entry in _entries(day_dir):
                reason = scene_problem_ or day_problem_ or _drop_entry_problem(entry, root, limits)
                stem = entry.stem if entry.is_file() and not entry.is_symlink() else entry.name
                found.append(DroppedLabels(entry, scene, day, stem, "" if reason else _tree_fingerprint(entry),
                                           f"{entry}: {reason}" if reason else ""))
    return found


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(Path(e.path) for e in os.scandir(folder))
    except OSError:
        return []


def _drop_level(folder: Path, found: list, what: str):
    """The <scene> or <day> folders under `folder` with the partition problem of their name; everything else there
    (files, links, hidden names) is refused into `found`."""
    expected = f"expected landing/{LABEL_DROP_ZONE}/<scene>/<YYYY-MM-DD>/<video stem>.<ext>"
    for path in _entries(folder):
        if path.name.startswith("."):
            found.append(_refused_drop(path, "hidden name (starting with '.'): not imported"))
        elif path.is_symlink():
            found.append(_refused_drop(path, "is a symbolic link: linked folders and files are not followed"))
        elif not path.is_dir():
            found.append(_refused_drop(path, expected))
        else:
            yield path, scene_problem(path.name) if what == "scene" else day_problem(path.name)


def _refused_drop(path: Path, reason: str) -> DroppedLabels:
    return DroppedLabels(path, "", "", path.name, "", f"{path}: {reason}")


def _drop_entry_problem(entry: Path, root: Path, limits: InputLimits) -> str:
    """Why a drop-zone entry (a label file, or a YOLO folder and every file in it) is not read; "" when it is."""
    if entry.name.startswith("."):
        return "hidden name (starting with '.'): not imported"
    if entry.is_dir() and not entry.is_symlink():
        if not inside(entry, root):
            return "resolves outside the landing zone"
        for path in sorted(entry.rglob("*")):
            inner = path.relative_to(entry).as_posix()
            if any(part.startswith(".") for part in path.relative_to(entry).parts):
                return f"{inner}: hidden name (starting with '.') inside the label folder"
            if path.is_dir() and not path.is_symlink():
                continue
            problem = file_problem(path, entry, limits.max_label_bytes, zone_name="its label folder")
            if problem:
                return f"{inner} {problem}"
        return ""
    return file_problem(entry, root, limits.max_label_bytes, zone_name="the landing zone")


def dropped_labels_for(landing_dir: Path, scene: str, day: str) -> list[DroppedLabels]:
    return [d for d in scan_label_drop_zone(landing_dir) if not d.refused and (d.scene, d.day) == (scene, day)]


def _tree_fingerprint(path: Path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    parts = [f"{p.relative_to(path.parent)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
