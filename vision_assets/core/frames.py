"""Sample a partition's videos into content-addressed JPEG frames and one table row per frame."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from vision_assets.core.lake import Lake
from vision_assets.core.video import sample_every

FRAME_COLUMNS = [
    "frame_sha256", "video_sha256", "frame_index", "timestamp_s", "width", "height",
    "strategy", "params", "image_path", "lighting",
]


def sample_video(lake: Lake, video: dict, every_seconds: float, cache_dir: Path) -> list[dict]:
    source = lake.local_copy(video["stored_path"], cache_dir)
    params = json.dumps({"every_seconds": every_seconds}, sort_keys=True)
    rows = []
    for frame in sample_every(source, every_seconds):
        digest, stored, _ = lake.put_blob_bytes("frames", frame.jpeg, ".jpg")
        rows.append({
            "frame_sha256": digest, "video_sha256": video["video_sha256"], "frame_index": frame.frame_index,
            "timestamp_s": frame.timestamp_s, "width": frame.width, "height": frame.height,
            "strategy": "fixed_interval", "params": params, "image_path": stored, "lighting": video.get("lighting", ""),
        })
    return rows


def sample_partition(lake: Lake, videos: pd.DataFrame, every_seconds: float, cache_dir: Path, workers: int = 2) -> pd.DataFrame:
    """Videos in parallel across cores: OpenCV decodes and encodes outside the GIL."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        per_video = list(pool.map(lambda v: sample_video(lake, v, every_seconds, cache_dir), videos.to_dict("records")))
    rows = [row for rows in per_video for row in rows]
    table = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    return table.sort_values(["video_sha256", "frame_index"]).reset_index(drop=True)
