"""Ingest one landing-zone video: hash, store content-addressed, probe, quarantine if undecodable."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from vision_assets.core.lake import Lake
from vision_assets.core.landing import LandingFile, label_fingerprint
from vision_assets.core.video import probe_video, read_sidecar

RAW_VIDEO_COLUMNS = [
    "video_sha256", "source_name", "source_path", "source_size", "source_mtime_ns", "outcome", "reason",
    "stored_path", "codec", "width", "height", "fps", "frames_claimed", "frames_decoded", "duration_s",
    "lighting", "weather", "device", "capture_start", "sidecar", "duplicate_of", "label_files",
]


def ingest_file(lake: Lake, landing: LandingFile, cache_dir: Path, previous: dict | None = None) -> dict:
    """One row of the raw_videos table.

    The file is copied once while hashed, and the copy is what gets probed and stored, so the stored bytes
    are exactly the hashed and probed ones. A file already ingested unchanged (same name, size, mtime) is
    neither copied nor probed again.
    """
    unchanged = previous and (previous["source_size"], previous["source_mtime_ns"]) == (landing.size, landing.mtime_ns)
    if unchanged:
        return {**previous, "source_path": str(landing.path), "label_files": label_fingerprint(landing.path)}
    sidecar = read_sidecar(landing.path)
    suffix = landing.path.suffix.lower()
    staged, digest = lake.stage_file(landing.path, cache_dir)
    probe = probe_video(staged)
    if probe.reason:
        probe = dataclasses.replace(probe, reason=probe.reason.replace(staged.name, landing.path.name))
    if probe.outcome == "quarantined":
        # Kept aside whole, with its reason, so nothing is lost and someone can look at it.
        stored = lake.commit_staged(staged, f"quarantine/{digest}{suffix}")
        lake.write_json(f"quarantine/{digest}.json", {"source": str(landing.path), "reason": probe.reason})
    else:
        stored = lake.commit_staged(staged, lake.blob_relpath("videos", digest, suffix))
    return {
        "video_sha256": digest,
        "source_name": landing.path.name,
        "source_path": str(landing.path),
        "source_size": landing.size,
        "source_mtime_ns": landing.mtime_ns,
        "outcome": probe.outcome,
        "reason": probe.reason,
        "stored_path": stored,
        **{k: getattr(probe, k) for k in ("codec", "width", "height", "fps", "frames_claimed", "frames_decoded", "duration_s")},
        "lighting": str(sidecar.get("lighting", "")),
        "weather": str(sidecar.get("weather", "")),
        "device": str(sidecar.get("device", "")),
        "capture_start": str(sidecar.get("capture_start", "")),
        "sidecar": json.dumps(sidecar, sort_keys=True),
        "duplicate_of": "",
        "label_files": label_fingerprint(landing.path),
    }


def ingest_partition(lake: Lake, files: list[LandingFile], previous: pd.DataFrame | None, cache_dir: Path,
                     workers: int = 2) -> pd.DataFrame:
    """Ingest a partition's files in parallel (hashing and decoding release the GIL)."""
    known = {} if previous is None else {row["source_name"]: row for row in previous.to_dict("records")}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        rows = list(pool.map(lambda f: ingest_file(lake, f, cache_dir, known.get(f.path.name)), files))
    table = pd.DataFrame(rows, columns=RAW_VIDEO_COLUMNS)
    first_by_hash: dict[str, str] = {}
    for index, row in table.iterrows():
        original = first_by_hash.setdefault(row["video_sha256"], row["source_name"])
        if original != row["source_name"]:
            table.at[index, "duplicate_of"] = original
    return table


def usable_videos(table: pd.DataFrame | None) -> pd.DataFrame:
    """Videos whose frames downstream stages may use: decodable, not a byte-identical duplicate."""
    if table is None or table.empty:
        return pd.DataFrame(columns=RAW_VIDEO_COLUMNS)
    return table[table["outcome"].isin(["ok", "truncated"]) & (table["duplicate_of"] == "")]

