"""Stage 2: sampled_frames, the JPEG frames training and mining work on."""

import hashlib
import os

import dagster as dg

from vision_assets.core.frames import sample_partition
from vision_assets.core.ingest import usable_videos
from vision_assets.defs.automation import CARRY_NEW_PARTITION
from vision_assets.defs.ingest import raw_videos
from vision_assets.defs.markdown import md_table
from vision_assets.defs.partitions import lake_partition, scene_and_day, scene_day
from vision_assets.defs.resources import LakeResource


class SamplingConfig(dg.Config):
    every_seconds: float = 0.5
    workers: int = min(4, os.cpu_count() or 1)


@dg.asset(
    partitions_def=scene_day,
    deps=[raw_videos],
    group_name="frames",
    kinds={"image", "parquet"},
    owners=["team:vision-data"],
    code_version="1",
    automation_condition=CARRY_NEW_PARTITION,
    description=(
        "Frames sampled from the partition's decodable videos at a fixed time interval (by decoded timestamps), "
        "stored once as JPEG by sha256; one row per frame with video hash, frame index, timestamp and strategy."
    ),
)
def sampled_frames(context: dg.AssetExecutionContext, config: SamplingConfig, lake: LakeResource) -> dg.MaterializeResult:
    scene, day = scene_and_day(context)
    store = lake.lake()
    partition = lake_partition(scene, day)
    videos = usable_videos(store.read_table("raw_videos", partition))
    table = sample_partition(store, videos, config.every_seconds, lake.work / "video_cache", config.workers)
    store.write_table("sampled_frames", table, partition)
    per_video = table.groupby("video_sha256").size().rename("frames").reset_index()
    per_video["video_sha256"] = per_video["video_sha256"].str[:12]
    version = hashlib.sha256("".join(sorted(table["frame_sha256"])).encode()).hexdigest()[:16]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "videos": len(videos),
            "strategy": f"fixed_interval every {config.every_seconds}s",
            "dagster/uri": store.uri(store.table_relpath("sampled_frames", partition)),
            "frames_per_video": dg.MetadataValue.md(md_table(per_video)),
        },
        data_version=dg.DataVersion(version),
    )
