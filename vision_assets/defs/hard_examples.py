"""Stage 8: hard_examples, mined nightly by the champion over each scene x day's frames."""

import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from vision_assets.core.labels import empty_annotations
from vision_assets.core.lake import Lake, partition_path
from vision_assets.core.mining import (
    PREANNOTATION_MIN_SCORE,
    mine_hard_examples,
    queue_annotations,
    write_labeling_queue,
)
from vision_assets.core.sampling import FRAME_COLUMNS, frames_version, sampling_source
from vision_assets.defs.automation import NIGHTLY_CRON
from vision_assets.defs.frames import sampled_frames
from vision_assets.defs.markdown import md_table
from vision_assets.defs.partitions import lake_partition, scene_and_day, scene_day, scene_day_key
from vision_assets.defs.resources import LakeResource, MlflowResource, TaxonomyResource, TrainerResource


class MiningConfig(dg.Config):
    top_k: int = 25
    preannotation_min_score: float = PREANNOTATION_MIN_SCORE


def _mined_marker(scene: str, day: str) -> str:
    return f"mining/scene={scene}/day={day}.json"


def queue_folder(scene: str, day: str, version: str) -> str:
    """Where the partition's labeling-queue import files go in the lake, one folder per champion version."""
    return f"labeling_queue/{partition_path(lake_partition(scene, day))}/champion=v{version}"


def video_urls(store: Lake, videos: pd.DataFrame | None) -> dict[str, str]:
    """Per video, the file its frames were sampled from, as a URI Label Studio can load: frame numbers in the
    queue refer to that file."""
    urls = {}
    for video in [] if videos is None else videos.to_dict("records"):
        path = sampling_source(video)
        urls[video["video_sha256"]] = path if store.is_local else store.fs.unstrip_protocol(path)
    return urls


def publish_queue(store: Lake, folder: str, files: dict[str, Path]) -> dict[str, str]:
    """Copy the import files into the lake (each atomically) and return their URIs by relative name."""
    for name, path in files.items():
        store.put_file(f"{folder}/{name}", path)
    # Rerun for new frames under the same champion: a video no longer queued must not keep its old CVAT file.
    current = {store.path(folder, name) for name in files}
    for stale in set(store.fs.glob(store.path(folder, "cvat_images", "*.xml"))) - current:
        store.fs.rm(stale)
    return {name: store.uri(folder, name) for name in files}


def champion_weights(mlflow: MlflowResource, lake: LakeResource) -> tuple[str, Path, int] | None:
    registry = mlflow.registry()
    champion = registry.champion(mlflow.model_name)
    if champion is None:
        return None
    cache = registry.download(mlflow.model_name, champion.version, lake.work / "registry" / f"v{champion.version}")
    weights = next(Path(cache).rglob("*.pt"))
    return str(champion.version), weights, int(champion.tags.get("imgsz", 320))


@dg.asset(
    partitions_def=scene_day,
    deps=[sampled_frames, "registered_model"],
    group_name="mining",
    kinds={"pytorch", "parquet"},
    owners=["team:vision-labels"],
    code_version="2",
    description=(
        "The partition's frames the champion model is least sure about (detections nearest 0.5 confidence), "
        "ranked, as the next labeling queue, exported with the champion's boxes as pre-annotations: a Label "
        "Studio import (video tasks, boxes as predictions), CVAT for images XML per video and COCO JSON under "
        "labeling_queue/scene=/day=/champion=v<version>/, and the boxes as the hard_example_boxes table. Uses "
        "the registry's champion (see registered_model). Filled by the nightly schedule for every partition whose "
        "current frames the current champion has not mined yet."
    ),
)
def hard_examples(context: dg.AssetExecutionContext, config: MiningConfig, lake: LakeResource,
                  mlflow: MlflowResource, trainer: TrainerResource, taxonomy: TaxonomyResource) -> dg.MaterializeResult:
    scene, day = scene_and_day(context)
    found = champion_weights(mlflow, lake)
    if found is None:
        raise dg.Failure(f"model {mlflow.model_name} has no champion yet: nothing to mine with")
    version, weights, imgsz = found
    store = lake.lake()
    partition = lake_partition(scene, day)
    frames = store.read_table("sampled_frames", partition)
    if frames is None or frames.empty:
        # e.g. every video of the partition was quarantined: nothing to mine, and that is an answer too.
        context.log.warning(f"{scene}/{day}: no sampled frames to mine")
        frames = pd.DataFrame(columns=FRAME_COLUMNS)
        ranked = frames.assign(uncertainty=[], detections=[], max_confidence=[])
        boxes = empty_annotations()
    else:
        ranked, detections = mine_hard_examples(weights, frames, work_dir=lake.work, imgsz=imgsz,
                                                top_k=config.top_k, device=trainer.device)
        boxes = queue_annotations(ranked, detections, version, min_score=config.preannotation_min_score)
    table = ranked.assign(champion_version=version)
    store.write_table("hard_examples", table, partition)
    store.write_table("hard_example_boxes", boxes, partition)
    folder = queue_folder(scene, day, version)
    with tempfile.TemporaryDirectory(dir=lake.work) as tmp:
        files = write_labeling_queue(boxes, ranked, Path(tmp), taxonomy.class_names,
                                     video_urls=video_urls(store, store.read_table("raw_videos", partition)))
        uris = publish_queue(store, folder, files)
    # The marker last: a partition whose export failed is mined again.
    store.write_json(_mined_marker(scene, day), {"champion_version": version, "frames_version": frames_version(frames),
                                                 "frames_scored": len(frames)})
    shown = table[["frame_index", "timestamp_s", "uncertainty", "detections", "max_confidence"]].assign(
        video=table["video_sha256"].str[:12])
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(table),
        "frames_scored": len(frames),
        "champion_version": version,
        "frames_queued": len(table),
        "preannotated_boxes": len(boxes),
        "queue": dg.MetadataValue.md(md_table(shown)),
        "labeling_queue": dg.MetadataValue.path(store.uri(folder)),
        "label_studio_import": dg.MetadataValue.path(uris["label_studio.json"]),
        "coco_import": dg.MetadataValue.path(uris["coco.json"]),
        "cvat_images_imports": dg.MetadataValue.json(sorted(u for n, u in uris.items() if n.startswith("cvat_images/"))),
    })


hard_examples_job = dg.define_asset_job("mine_hard_examples", selection=[hard_examples], partitions_def=scene_day)


def partitions_to_mine(lake: LakeResource, champion_version: str) -> list[dict[str, str]]:
    """Partitions whose current frames the current champion has not mined yet."""
    store = lake.lake()
    todo = []
    for partition in store.table_partitions("sampled_frames"):
        marker = _mined_marker(partition["scene"], partition["day"])
        mined = store.read_json(marker) if store.exists(marker) else {}
        current = frames_version(store.read_table("sampled_frames", partition))
        if (mined.get("champion_version"), mined.get("frames_version")) != (champion_version, current):
            todo.append(partition)
    return todo


@dg.schedule(job=hard_examples_job, cron_schedule=NIGHTLY_CRON, default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Every night, the champion mines each partition it has not mined yet.")
def nightly_hard_examples(context: dg.ScheduleEvaluationContext, lake: LakeResource, mlflow: MlflowResource):
    registry = mlflow.registry()
    champion = registry.champion(mlflow.model_name)
    if champion is None:
        return dg.SkipReason("no champion model yet")
    version = str(champion.version)
    return [dg.RunRequest(partition_key=scene_day_key(p["scene"], p["day"]), run_key=f"v{version}:{p['scene']}|{p['day']}",
                          tags={"vision/champion_version": version})
            for p in partitions_to_mine(lake, version)]
