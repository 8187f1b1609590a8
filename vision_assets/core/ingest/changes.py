"""What the lake already holds of the landing zone: which partitions have new or changed files, and what a
partition's raw_videos table says downstream stages should look at."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pandas as pd

from vision_assets.core.ingest.landing import LandingFile, labels_fingerprint, partition_fingerprint, scan_landing
from vision_assets.core.ingest.video_index import known_files, read_video_index
from vision_assets.core.lake import Lake


@dataclass(frozen=True)
class PartitionChange:
    scene: str
    day: str
    fresh: list[LandingFile]  # files (or the label files beside them) not in the lake as they are now
    fingerprint: str  # of every file of the partition: a retry is "for the same inputs" while this holds


@dataclass(frozen=True)
class LandingChanges:
    partitions: dict[tuple[str, str], list[LandingFile]]  # every ingestible file by (scene, day)
    changed: list[PartitionChange]
    refused: list[str]  # "<path>: <reason>" for each file that cannot be ingested


def landing_changes(lake: Lake, landing_dir) -> LandingChanges:
    """The lake says what is ingested: a file is new when its name, size, mtime or beside-labels differ from its
    raw_videos row."""
    by_partition: dict[tuple[str, str], list[LandingFile]] = {}
    refused = []
    for landed in scan_landing(landing_dir):
        if landed.refused:
            refused.append(landed.refused)
        else:
            by_partition.setdefault((landed.scene, landed.day), []).append(landed)
    changed = []
    known = known_files(read_video_index(lake)) if by_partition else {}  # one lake-wide table, not every partition's
    for (scene, day), files in sorted(by_partition.items()):
        seen = known.get((scene, day), set())
        fresh = [f for f in files if (f.path.name, f.size, f.mtime_ns, labels_fingerprint(f.labels)) not in seen]
        if fresh:
            changed.append(PartitionChange(scene, day, fresh, partition_fingerprint(files)))
    return LandingChanges(by_partition, changed, refused)


def duplicate_report(table: pd.DataFrame) -> pd.DataFrame:
    """Copies and re-encodes in a raw_videos table, each with the video it duplicates."""
    exact = table[table["duplicate_of"] != ""].assign(kind="duplicate", original=lambda t: t["duplicate_of"],
                                                       distance=0.0)
    near = table[table["near_duplicate_of"] != ""].assign(kind="near-duplicate",
                                                          original=lambda t: t["near_duplicate_of"],
                                                          distance=lambda t: t["near_duplicate_distance"])
    columns = ["source_name", "kind", "original", "distance"]
    if len(exact) + len(near) == 0:
        return pd.DataFrame(columns=columns)
    return pd.concat([exact[columns], near[columns]], ignore_index=True)


def raw_videos_version(table: pd.DataFrame) -> str:
    """What downstream stages consume: which bytes, with which outcome."""
    pairs = sorted(zip(table["video_sha256"], table["outcome"], table["duplicate_of"]))
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]


def refusals_digest(refused: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(refused)).encode()).hexdigest()[:16]
