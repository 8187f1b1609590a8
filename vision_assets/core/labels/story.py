"""What became of each video's labels, for the command line: per usable video of a scene x day, the label files
that named it, the rows imported and the rows QC kept; a video without labels is listed as such (legitimate for
mining, but it cannot enter a dataset); class names that matched no class, per file."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from vision_assets.core.ingest.tables import read_table_or_none
from vision_assets.core.ingest.videos import usable_videos
from vision_assets.core.labels.aliases import unknown_classes
from vision_assets.core.lake import Lake, keys


def label_story(lake: Lake, partitions: Iterable[tuple[str, str]], class_names: Iterable[str]) -> list[dict]:
    """One entry per usable video of each (scene, day): {scene, day, video, label_files, imported, kept,
    unknown_classes}, plus the partition's QC outcome (qc_pass_rate, qc_passed; None before QC ran)."""
    names = list(class_names)
    story = []
    for scene, day in sorted(set(partitions)):
        partition = {"scene": scene, "day": day}
        videos = usable_videos(read_table_or_none(lake, keys.RAW_VIDEOS, partition))
        labels = _or_empty(read_table_or_none(lake, keys.ANNOTATIONS, partition))
        kept = _or_empty(read_table_or_none(lake, keys.QC_ANNOTATIONS, partition))
        sources = _or_empty(read_table_or_none(lake, keys.LABEL_SOURCES, partition))
        summary = read_table_or_none(lake, keys.QC_SUMMARY, partition)
        qc = summary.iloc[0] if summary is not None and len(summary) else None
        for video in videos.itertuples():
            own = labels[labels["video_sha256"] == video.video_sha256] if len(labels) else labels
            files = sources[sources["video_sha256"] == video.video_sha256]["source_file"].tolist() if len(sources) else []
            story.append({
                "scene": scene, "day": day, "video": video.source_name, "label_files": files,
                "imported": len(own),
                "kept": int((kept["video_sha256"] == video.video_sha256).sum()) if len(kept) else 0,
                "unknown_classes": unknown_classes(own, names) if len(own) else [],
                "qc_pass_rate": None if qc is None else float(qc["pass_rate"]),
                "qc_passed": None if qc is None else bool(qc["passed"]),
            })
    return story


def _or_empty(table: pd.DataFrame | None) -> pd.DataFrame:
    return pd.DataFrame() if table is None else table


def story_lines(story: list[dict]) -> list[str]:
    """`campus/2024-03-05 a.mp4: 548 label rows imported, 547 kept (a.mp4.txt)`; `... no labels` for the others."""
    lines = []
    for entry in story:
        where = f"{entry['scene']}/{entry['day']} {entry['video']}"
        if not entry["label_files"]:
            lines.append(f"warning: {where}: no labels (usable for mining, not for datasets)")
            continue
        lines.append(f"{where}: {entry['imported']} label rows imported, {entry['kept']} kept "
                     f"({', '.join(entry['label_files'])})")
        lines += [f"  {u['source_file']}: {u['class_name'] or '<none>'}: {u['rows']} rows, not in classes"
                  for u in entry["unknown_classes"]]
    return lines
