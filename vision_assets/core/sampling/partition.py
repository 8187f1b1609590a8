"""Sample a partition's videos into content-addressed JPEG frames and one table row per frame."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vision_assets.core.lake import Lake
from vision_assets.core.registry.forgotten import forgotten_videos
from vision_assets.core.sampling.sampler import KeptFrame, Transform, sample_video_file
from vision_assets.core.sampling.strategies import SamplingStrategy

FRAME_COLUMNS = [
    "frame_sha256", "video_sha256", "frame_index", "timestamp_s", "width", "height",
    "strategy", "params", "phash", "image_path", "lighting", "blurred", "blur_regions",
]


@dataclass(frozen=True)
class SamplingPlan:
    """How every video of a partition is sampled (one scene per partition, so one plan).

    transform, if given, gets each kept BGR frame and returns (frame, info); info's "blurred" (bool) and
    "blur_regions" (int) fill the columns of the same names.
    """

    strategy: SamplingStrategy
    near_duplicate_distance: int = 4
    transform: Transform | None = None


def frames_version(frames: pd.DataFrame | None) -> str:
    """Which frames a partition holds, as one hash: what sampled_frames reports and mining compares against."""
    shas = [] if frames is None else sorted(frames["frame_sha256"])
    return hashlib.sha256("".join(shas).encode()).hexdigest()[:16]


def sampling_source(video: dict) -> str:
    """The normalised copy where there is one (same frames, friendlier codec), else the stored original."""
    normalised = video.get("normalised_path")
    return normalised if isinstance(normalised, str) and normalised else video["stored_path"]


def sample_video(lake: Lake, video: dict, plan: SamplingPlan, cache_dir: Path) -> tuple[list[dict], dict]:
    source = lake.local_copy(sampling_source(video), cache_dir)
    params = json.dumps(plan.strategy.params, sort_keys=True)
    rows: list[dict] = []

    def store(kept: KeptFrame) -> None:  # uploads as frames are made, so JPEG bytes never pile up in memory
        digest, stored, _ = lake.put_blob_bytes("frames", kept.jpeg, ".jpg", digest=kept.sha256)
        regions = int(kept.transform.get("blur_regions", 0))
        rows.append({
            "frame_sha256": digest, "video_sha256": video["video_sha256"], "frame_index": kept.index,
            "timestamp_s": kept.timestamp, "width": kept.width, "height": kept.height,
            "strategy": plan.strategy.name, "params": params, "phash": kept.phash_hex, "image_path": stored,
            "lighting": video.get("lighting", ""), "blurred": bool(kept.transform.get("blurred", regions > 0)),
            "blur_regions": regions,
        })

    result = sample_video_file(source, plan.strategy, near_duplicate_distance=plan.near_duplicate_distance,
                               transform=plan.transform, on_frame=store, keep_jpeg=False)
    stats = {"outcome": result.outcome, "reason": result.reason, "frames_decoded": result.frames_decoded,
             "kept": len(rows), "near_duplicates_dropped": result.near_duplicates_dropped}
    return rows, stats


def sample_partition(lake: Lake, videos: pd.DataFrame, plan: SamplingPlan, cache_dir: Path,
                     workers: int = 2) -> tuple[pd.DataFrame, dict]:
    """Videos in parallel threads: FFmpeg decoding and OpenCV encoding run outside the GIL.

    Returns the frame table and stats: per_video (by video_sha256: outcome, reason, frames_decoded, kept,
    near_duplicates_dropped) and the totals.
    """
    forgotten = forgotten_videos(lake)  # a rerun of an old partition never brings a forgotten video's frames back
    records = [v for v in videos.to_dict("records") if v["video_sha256"] not in forgotten]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda video: sample_video(lake, video, plan, cache_dir), records))
    rows = [row for video_rows, _ in results for row in video_rows]
    table = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    table = table.sort_values(["video_sha256", "frame_index"]).reset_index(drop=True)
    per_video = {video["video_sha256"]: stats for video, (_, stats) in zip(records, results)}
    stats = {
        "videos": len(records), "frames": len(table),
        "near_duplicates_dropped": sum(s["near_duplicates_dropped"] for s in per_video.values()),
        "strategy": plan.strategy.name, "params": dict(plan.strategy.params), "per_video": per_video,
    }
    return table, stats
