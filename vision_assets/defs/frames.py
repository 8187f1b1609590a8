"""Stage 2: sampled_frames, the JPEG frames training and mining work on."""

import os
from typing import TYPE_CHECKING

import dagster as dg

from vision_assets.core.lake import keys as lake_keys
from vision_assets.core.sampling.policy_changes import POLICY_METADATA_KEY, policy_fingerprint
from vision_assets.defs import keys
from vision_assets.defs.automation import CARRY_NEW_PARTITION
from vision_assets.defs.ingest import raw_videos
from vision_assets.defs.markdown import lake_link, lake_location, md_image, md_table
from vision_assets.defs.partitions import lake_partition, scene_and_day, scene_day
from vision_assets.defs.resources import LakeResource, SamplingPolicyResource, SceneSampling

# pandas, OpenCV and PyAV (the sampling and preview code) are imported inside the asset: loading the code location
# should cost little more than importing dagster.
if TYPE_CHECKING:
    import pandas as pd

    from vision_assets.core.sampling import SamplingPlan


class SamplingRunConfig(dg.Config):
    workers: int = min(4, os.cpu_count() or 1)


def plan_for(spec: SceneSampling) -> "SamplingPlan":
    from vision_assets.core.sampling import SamplingPlan, get_strategy
    from vision_assets.core.video import Blurrer

    blurrer = Blurrer(faces=spec.blur_faces, plates=spec.blur_plates)
    return SamplingPlan(strategy=get_strategy(spec.strategy, **spec.params),
                        near_duplicate_distance=spec.near_duplicate_distance,
                        transform=blurrer if blurrer.enabled else None)


@dg.asset(
    partitions_def=scene_day,
    deps=[raw_videos],
    group_name=keys.DATA_GROUP,
    kinds={"image", "parquet"},
    owners=["team:vision-data"],
    code_version="2",
    automation_condition=CARRY_NEW_PARTITION,
    description=(
        "Frames chosen from the partition's decodable videos by the scene's sampling strategy (fixed interval by "
        "decoded timestamps, scene change, motion or keyframes only), near-duplicate frames dropped, faces and "
        "plates blurred where the scene asks for it, stored once as JPEG by sha256. One row per frame: video "
        "hash, frame index, timestamp, strategy and parameters, frame hash, perceptual hash, blurred or not."
    ),
)
def sampled_frames(context: dg.AssetExecutionContext, config: SamplingRunConfig, lake: LakeResource,
                   sampling: SamplingPolicyResource) -> dg.MaterializeResult:
    import pandas as pd

    from vision_assets.core.ingest import usable_videos
    from vision_assets.core.sampling import frames_version, sample_partition

    scene, day = scene_and_day(context)
    store = lake.lake()
    partition = lake_partition(scene, day)
    spec = sampling.for_scene(scene)
    plan = plan_for(spec)
    videos = usable_videos(store.read_table(lake_keys.RAW_VIDEOS, partition))
    table, stats = sample_partition(store, videos, plan, lake.work / "video_cache", config.workers)
    store.write_table(lake_keys.SAMPLED_FRAMES, table, partition)
    names = dict(zip(videos["video_sha256"], videos["source_name"]))
    per_video = pd.DataFrame([{"video": names.get(sha, sha[:12]), **{k: s[k] for k in
                               ("outcome", "frames_decoded", "kept", "near_duplicates_dropped")}}
                              for sha, s in stats["per_video"].items()])
    preview = _contact_sheet(store, table, names, (scene, day))
    context.log.info(f"{scene}/{day}: {len(table)} frames from {len(videos)} videos with {plan.strategy!r}; "
                     f"{stats['near_duplicates_dropped']} near-duplicates dropped")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "videos": len(videos),
            "strategy": spec.strategy,
            POLICY_METADATA_KEY: policy_fingerprint(spec.model_dump()),  # what --changed-policy compares
            "params": dg.MetadataValue.json(dict(plan.strategy.params)),
            "near_duplicates_dropped": int(stats["near_duplicates_dropped"]),
            "blurred_frames": int(table["blurred"].sum()),
            "blur_regions": int(table["blur_regions"].sum()),
            "privacy": "faces " + ("on" if spec.blur_faces else "off") + ", plates " + ("on" if spec.blur_plates else "off"),
            **lake_location(store, lake_keys.table_key(lake_keys.SAMPLED_FRAMES, partition)),
            "frames_per_video": dg.MetadataValue.md(md_table(per_video)),
            **preview,
        },
        data_version=dg.DataVersion(frames_version(table)),
    )


def _contact_sheet(store, table: "pd.DataFrame", video_names: dict[str, str], partition: tuple[str, str]) -> dict:
    """A thumbnail of the partition's frames inline, the full-size sheet in the lake (content-addressed)."""
    from vision_assets.core.preview import decode_jpeg, frames_contact_sheet, remember_preview, thumbnail

    if table.empty:
        return {}
    located = table.assign(image_path=table["image_path"].map(store.resolve))
    sheet, shown = frames_contact_sheet(store.fs.cat_file, located, video_names)
    _, key, _ = store.put_blob_bytes(lake_keys.PREVIEW_BLOBS, sheet, ".jpg")
    remember_preview(store, *partition, key)  # forget removes it with the partition's videos
    caption = f"{shown} of {len(table)} frames, spread over the partition; full size: lake key `{key}`"
    return {
        "contact_sheet": dg.MetadataValue.md(f"{md_image(thumbnail(decode_jpeg(sheet)), 'frames')}\n\n{caption}"),
        "contact_sheet_full_size": lake_link(store, key),
    }
