"""Which video each task of a Label Studio export labels, so that a project export (one file, a task per video) is
split per video instead of being put on the video the file happens to be named after.

A task names its video in data.video (or the first text value of data): an uploaded file (/data/upload/3/
7f1c2b3a-cam1.mp4, Label Studio prefixes an upload's name with 8 hex characters and a dash), a local-files URL
(/data/local-files/?d=lake/videos/<sha256>.mp4), a web or bucket URL, or the video's sha256 (what this package
writes when it has no URL). It matches a video of the partition by that video's file name, its lake key
(stored_path, normalised_path) or its sha256.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from vision_assets.core.labels.formats.common import AnnotationFormatError, load_json
from vision_assets.core.labels.formats.detect import _json_format

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


@dataclass(frozen=True)
class TaskSplit:
    """A multi-task export's tasks per video_sha256, or why it cannot be split (then nothing of it is imported)."""

    tasks: dict[str, list[dict]]
    problem: str = ""


def multi_task_export(path: Path):
    """The task list of a Label Studio export holding several tasks; None for any other file (read as before)."""
    if not path.is_file() or path.suffix.lower() != ".json":
        return None
    try:
        with path.open("rb") as fh:
            if not fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
                return None  # a JSON object (COCO, one task) is read as before, loaded once
    except OSError:
        return None
    try:
        data = load_json(path)
        fmt = _json_format(path, data)
    except AnnotationFormatError:
        return None  # the reader reports it, with the file's other problems
    if fmt != "label_studio" or not isinstance(data, list) or len(data) < 2:
        return None
    return data


def task_reference(task) -> str:
    data = task.get("data") if isinstance(task, dict) and isinstance(task.get("data"), dict) else {}
    video = data.get("video", next((v for v in data.values() if isinstance(v, str)), ""))
    return str(video) if isinstance(video, str) else ""


def _path_of(reference: str) -> str:
    """The path a reference names: a local-files URL's d= parameter, else the URL's path, percent-decoded."""
    parsed = urllib.parse.urlparse(reference)
    local = urllib.parse.parse_qs(parsed.query).get("d")
    return urllib.parse.unquote(local[0] if local else parsed.path or reference)


def videos_of_task(task, videos: list[dict]) -> list[dict]:
    """The partition's videos a task's reference names (one when it matches, none or several when it does not)."""
    reference = task_reference(task)
    if not reference:
        return []
    path = _path_of(reference)
    name = PurePosixPath(path).name
    found = []
    for video in videos:
        keys = [str(video.get(k) or "") for k in ("stored_path", "normalised_path")]
        source = str(video.get("source_name") or "")
        if (reference == video["video_sha256"] or video["video_sha256"] in path
                or any(k and path.endswith(k) for k in keys)
                or name == source or (_UPLOAD_PREFIX.match(name) and name[9:] == source)):
            found.append(video)
    return found


def _has_boxes(task) -> bool:
    entries = (task.get("annotations") or task.get("completions") or []) if isinstance(task, dict) else []
    return any(isinstance(e, dict) and not e.get("was_cancelled") and e.get("result") for e in entries)


def split_tasks(tasks: list, videos: list[dict]) -> TaskSplit:
    """Every task with results matched to exactly one video of the partition, or the whole file refused: a task
    whose video is not here (or is named ambiguously) would otherwise land on the wrong video."""
    by_video: dict[str, list[dict]] = {}
    unmatched, ambiguous = [], []
    for number, task in enumerate(tasks, start=1):
        if not _has_boxes(task):
            continue  # nothing to place
        owners = videos_of_task(task, videos)
        label = f"task {task.get('id', number) if isinstance(task, dict) else number} ({task_reference(task)[:80]!r})"
        if len(owners) == 1:
            by_video.setdefault(owners[0]["video_sha256"], []).append(task)
        elif owners:
            ambiguous.append(label)
        else:
            unmatched.append(label)
    if unmatched or ambiguous:
        parts = []
        if unmatched:
            parts.append(f"{len(unmatched)} task(s) name no video of this partition: {', '.join(unmatched[:3])}"
                         f"{', ...' if len(unmatched) > 3 else ''}")
        if ambiguous:
            parts.append(f"{len(ambiguous)} task(s) match several videos: {', '.join(ambiguous[:3])}")
        return TaskSplit({}, "Label Studio export with several tasks, refused whole (no task is put on a video it "
                             "does not name): " + "; ".join(parts) + ". Match each task's data.video to a video's "
                             "file name or lake key, or drop one file per video")
    return TaskSplit(by_video)
