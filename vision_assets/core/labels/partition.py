"""One scene x day's labels: every label file of its videos (beside them or in the drop zone) imported into the
canonical table, the exact label bytes kept in the lake, every version kept readable."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vision_assets.core.labels.aliases import apply_aliases
from vision_assets.core.labels.canonical import (
    AnnotationFormatError,
    empty_annotations,
    label_version,
    read_annotations,
)
from vision_assets.core.labels.task_videos import multi_task_export, split_tasks
from vision_assets.core.lake import Lake, keys

# problem: why an unreadable or ambiguous file was not imported (without its absolute path), "" for the others;
# note: what the import corrected in a file it imported (a COCO file numbered from 1), "" for the others
SOURCE_COLUMNS = ["video_sha256", "source_file", "format", "label_file_sha256", "stored_path", "rows", "fingerprint",
                  "problem", "note"]


@dataclass(frozen=True)
class LabelFile:
    """A label file (or YOLO folder) for one video; fingerprint is the drop-zone entry's ("" beside the video)."""

    path: Path
    video_stem: str
    fingerprint: str = ""


@dataclass
class PartitionLabels:
    table: pd.DataFrame  # the canonical rows, label_version column included
    version: str
    sources: pd.DataFrame  # one row per label file: what it was, where its bytes are kept (lake key), how many rows
    errors: list[dict] = field(default_factory=list)  # unreadable files with the reason
    unmatched: list[str] = field(default_factory=list)  # drop-zone entries named after no video of the partition
    unlabelled: list[str] = field(default_factory=list)  # usable videos without any label file
    videos: list[str] = field(default_factory=list)  # the stems of the partition's usable videos


def import_partition_labels(lake: Lake, partition: dict[str, str], videos: list[dict], beside: dict[str, list[Path]],
                            dropped: list[LabelFile], aliases: dict[str, str] | None = None) -> PartitionLabels:
    """Read every label file of the partition's usable videos (raw_videos rows), attach the rows to the video's
    hash, keep each file's bytes by sha256 and write annotations, annotation_versions and label_sources.

    beside: per video sha256, the label files lying beside it in the landing zone. An unreadable file is
    recorded (as seen, so the drop-zone sensor waits for a corrected file) and the others go on. aliases maps
    class names other tools use to the project's classes (project file `classes[].aliases`)."""
    stems = {Path(v["source_name"]).stem for v in videos}
    exports = {id(d): tasks for d in dropped if (tasks := multi_task_export(d.path)) is not None}
    owners = {id(d): _owner(d, videos) for d in dropped if id(d) not in exports}
    result = PartitionLabels(table=empty_annotations(), version="", sources=pd.DataFrame(columns=SOURCE_COLUMNS),
                             unmatched=[d.path.name for d in dropped if id(d) in owners and owners[id(d)] is None],
                             videos=sorted(stems))
    tables, sources = [], []
    labelled = set()
    for d in dropped:
        if id(d) in exports:
            labelled |= _import_export(lake, d, exports[id(d)], videos, result.errors, tables, sources)
    for d in dropped:
        if owners.get(id(d)) == AMBIGUOUS:
            names = sorted(v["source_name"] for v in videos if Path(v["source_name"]).stem == d.video_stem)
            problem = (f"ambiguous: {' and '.join(names)} share the stem {d.video_stem!r}; name the label file after "
                       f"the full video name ({names[0]}{d.path.suffix if d.path.is_file() else ''})")
            result.errors.append({"file": d.path.name, "error": f"{d.path.name}: {problem}"})
            sources.append(_source_row("", d.path.name, "ambiguous", fingerprint=d.fingerprint, problem=problem))
    for video in videos:
        stem = Path(video["source_name"]).stem
        files = [LabelFile(p, stem) for p in beside.get(video["video_sha256"], [])]
        files += [d for d in dropped if owners.get(id(d)) is video]
        if not files and video["video_sha256"] not in labelled:
            result.unlabelled.append(video["source_name"])
        for label_file in files:
            rows, source = _import_file(lake, video, label_file, result.errors)
            sources.append(source)
            if rows is not None:
                tables.append(rows)
    sources += [_source_row("", d.path.name, "unmatched", fingerprint=d.fingerprint)
                for d in dropped if id(d) in owners and owners[id(d)] is None]
    table = pd.concat(tables, ignore_index=True) if tables else empty_annotations()
    table = apply_aliases(table, aliases or {})
    table.attrs.clear()  # a reader's declared image sizes are for audits; the lake's frame sizes come from probing
    result.version = label_version(table)
    result.table = table.assign(label_version=result.version)
    result.sources = pd.DataFrame(sources, columns=SOURCE_COLUMNS)
    _write(lake, partition, result)
    return result


AMBIGUOUS = "ambiguous"


def _owner(dropped: LabelFile, videos: list[dict]):
    """The video a drop-zone entry labels: the one whose full file name it carries (v.mp4.json, folder v.mp4), else
    the only one with its stem; AMBIGUOUS when several share the stem, None when none has it."""
    exact = [v for v in videos if v["source_name"] == dropped.video_stem]
    if exact:
        return exact[0]
    by_stem = [v for v in videos if Path(v["source_name"]).stem == dropped.video_stem]
    return by_stem[0] if len(by_stem) == 1 else (AMBIGUOUS if by_stem else None)


def _import_file(lake: Lake, video: dict, label_file: LabelFile, errors: list[dict]):
    path = label_file.path
    try:
        rows = read_annotations(path, image_size=(int(video["width"]), int(video["height"])),
                                frames_count=_frames_count(video))
    except AnnotationFormatError as error:
        errors.append({"file": path.name, "error": str(error)})
        return None, _source_row(video["video_sha256"], path.name, "unreadable", fingerprint=label_file.fingerprint,
                                 problem=str(error).removeprefix(f"{path}: "))
    # The exact label bytes are kept, content-addressed, so a dataset traces back to them.
    digest, stored, _ = (lake.put_blob_tree(keys.LABEL_BLOBS, path) if path.is_dir()
                         else lake.put_blob_file(keys.LABEL_BLOBS, path, path.suffix.lower()))
    fmt = str(rows["source_format"].iloc[0]) if len(rows) else ""
    source = _source_row(video["video_sha256"], path.name, fmt, digest, stored, len(rows), label_file.fingerprint,
                         note="; ".join(rows.attrs.get("corrections", [])))
    return rows.assign(video_sha256=video["video_sha256"]), source


def _import_export(lake: Lake, dropped: LabelFile, tasks: list, videos: list[dict], errors: list[dict],
                   tables: list, sources: list) -> set[str]:
    """A Label Studio export with several tasks, split by each task's video (task_videos.py) or refused whole.
    Returns the videos it labelled."""
    path = dropped.path
    split = split_tasks(tasks, videos)
    if split.problem:
        errors.append({"file": path.name, "error": f"{path.name}: {split.problem}"})
        sources.append(_source_row("", path.name, "unreadable", fingerprint=dropped.fingerprint, problem=split.problem))
        return set()
    labelled = set()
    for video in videos:
        own = split.tasks.get(video["video_sha256"])
        if not own:
            continue
        try:
            rows = read_annotations(path, "label_studio", image_size=(int(video["width"]), int(video["height"])),
                                    frames_count=_frames_count(video), data=own)
        except AnnotationFormatError as error:
            errors.append({"file": path.name, "error": str(error)})
            sources.append(_source_row(video["video_sha256"], path.name, "unreadable", fingerprint=dropped.fingerprint,
                                       problem=str(error).removeprefix(f"{path}: ")))
            continue
        digest, stored, _ = lake.put_blob_file(keys.LABEL_BLOBS, path, path.suffix.lower())
        note = f"{len(own)} of the export's {len(tasks)} tasks name {video['source_name']}"
        sources.append(_source_row(video["video_sha256"], path.name, "label_studio", digest, stored, len(rows),
                                   dropped.fingerprint, note=note))
        tables.append(rows.assign(video_sha256=video["video_sha256"]))
        labelled.add(video["video_sha256"])
    return labelled


def _frames_count(video: dict) -> int | None:
    """The video's decoded frame count, which bounds what its label files may expand to."""
    count = video.get("frames_decoded")
    return int(count) if count is not None and not pd.isna(count) and int(count) > 0 else None


def _source_row(video_sha256: str, source_file: str, fmt: str, digest: str = "", stored: str = "", rows: int = 0,
                fingerprint: str = "", problem: str = "", note: str = "") -> dict:
    return {"video_sha256": video_sha256, "source_file": source_file, "format": fmt, "label_file_sha256": digest,
            "stored_path": stored, "rows": rows, "fingerprint": fingerprint, "problem": problem, "note": note}


def _write(lake: Lake, partition: dict[str, str], labels: PartitionLabels) -> None:
    lake.write_table(keys.ANNOTATIONS, labels.table, partition)
    # label_version is the folder of this table (hive layout), so the file itself leaves it out: a plain
    # pandas.read_parquet(folder) then reads every version without two label_version columns to merge.
    lake.write_table(keys.ANNOTATION_VERSIONS, labels.table.drop(columns=["label_version"]),
                     {**partition, "label_version": labels.version})
    lake.write_table(keys.LABEL_SOURCES, labels.sources.assign(label_version=labels.version), partition)


def boxes_on_sampled_frames(table: pd.DataFrame, frames: pd.DataFrame | None) -> int:
    """Labels that fall on frames the partition sampled (the rest stay in the table for tracking and audits)."""
    if frames is None or table.empty:
        return 0
    keys_ = frames[["video_sha256", "frame_index"]].drop_duplicates()
    return int(table.merge(keys_, on=["video_sha256", "frame_index"]).shape[0])
