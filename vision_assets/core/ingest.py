"""Ingest one landing-zone video: hash, store content-addressed, probe, quarantine if undecodable."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from vision_assets.core.lake import Lake, sha256_file
from vision_assets.core.landing import LandingFile, label_fingerprint
from vision_assets.core.video import probe_video, read_sidecar

RAW_VIDEO_COLUMNS = [
    "video_sha256", "source_name", "source_path", "source_size", "source_mtime_ns", "outcome", "reason",
    "stored_path", "codec", "width", "height", "fps", "frames_claimed", "frames_decoded", "duration_s",
    "lighting", "weather", "device", "capture_start", "sidecar", "duplicate_of", "label_files",
]


def ingest_file(lake: Lake, landing: LandingFile, previous: dict | None = None) -> dict:
    """One row of the raw_videos table. A file already ingested with the same bytes is not probed again."""
    digest = sha256_file(landing.path)
    if previous and previous.get("video_sha256") == digest:
        return {**previous, "source_path": str(landing.path), "source_mtime_ns": landing.mtime_ns,
                "label_files": label_fingerprint(landing.path)}
    sidecar = read_sidecar(landing.path)
    probe = probe_video(landing.path)
    suffix = landing.path.suffix.lower()
    if probe.outcome == "quarantined":
        # Kept aside whole, with its reason, so nothing is lost and someone can look at it.
        stored = lake.put_file(f"quarantine/{digest}{suffix}", landing.path)
        lake.write_json(f"quarantine/{digest}.json", {"source": str(landing.path), "reason": probe.reason})
    else:
        _, stored, _ = lake.put_blob_file("videos", landing.path, suffix, digest=digest)
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


def ingest_partition(lake: Lake, files: list[LandingFile], previous: pd.DataFrame | None, workers: int = 2) -> pd.DataFrame:
    """Ingest a partition's files in parallel (hashing and decoding release the GIL)."""
    known = {} if previous is None else {row["source_name"]: row for row in previous.to_dict("records")}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        rows = list(pool.map(lambda f: ingest_file(lake, f, known.get(f.path.name)), files))
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

