"""Stage 8: hard_examples, mined nightly by the champion over each scene x day's frames."""

import os
from pathlib import Path

import dagster as dg

from vision_assets.core.lake import keys as lake_keys
from vision_assets.core.mining.queue_layout import COCO_FILE, PREANNOTATION_MIN_SCORE
from vision_assets.defs import keys
from vision_assets.defs.automation import NIGHTLY_CRON
from vision_assets.defs.frames import sampled_frames
from vision_assets.defs.markdown import lake_link, md_image, md_table, mlflow_model_url, readable
from vision_assets.defs.partitions import lake_partition, scene_and_day, scene_day, scene_day_key
from vision_assets.defs.resources import LakeResource, MlflowResource, TaxonomyResource, TrainerResource

# The mining core (pandas, OpenCV, Ultralytics) is imported inside the asset and sensor bodies: loading the code
# location should cost little more than importing dagster.

# A web server or bucket URL in front of the lake root, for Label Studio to load videos from; unset: local-files URLs.
MEDIA_URL_ENV = "VISION_LABEL_STUDIO_MEDIA_URL"


class MiningConfig(dg.Config):
    top_k: int = 25
    preannotation_min_score: float = PREANNOTATION_MIN_SCORE


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
    deps=[sampled_frames, keys.REGISTERED_MODEL],
    group_name=keys.FEEDBACK_GROUP,
    kinds={"pytorch", "parquet"},
    owners=["team:vision-labels"],
    code_version="3",
    description=(
        "The partition's frames the champion model is least sure about (detections nearest 0.5 confidence), "
        "ranked, as the next labeling queue, exported with the champion's boxes as pre-annotations: a Label "
        "Studio import (video tasks, boxes as predictions; `vision-assets labelstudio push` sends it), CVAT for "
        "images XML per video, COCO JSON and the videos as browser-playable H.264 under "
        "`labeling_queue/scene=<scene>/day=<day>/champion=v<version>/`, and the boxes as the hard_example_boxes table. Uses "
        "the registry's champion (see registered_model). Filled by the nightly schedule for every partition whose "
        "current frames the current champion has not mined yet. `labelling_order` places the queue among every "
        "queue of the champion: drifting footage first (smallest drift p-value), then the most uncertain queues "
        "(`vision-assets queue` lists them all)."
    ),
)
def hard_examples(context: dg.AssetExecutionContext, config: MiningConfig, lake: LakeResource,
                  mlflow: MlflowResource, trainer: TrainerResource, taxonomy: TaxonomyResource) -> dg.MaterializeResult:
    from vision_assets.core.mining.partition import mine_partition
    from vision_assets.core.mining.queue_preview import opening_instructions
    from vision_assets.core.registry import record_event

    found = champion_weights(mlflow, lake)
    if found is None:
        raise dg.Failure(f"model {mlflow.model_name} has no champion yet: nothing to mine with")
    version, weights, imgsz = found
    scene, day = scene_and_day(context)
    store, media_url = lake.lake(), os.environ.get(MEDIA_URL_ENV) or None
    mined = mine_partition(store, scene, day, weights, version, taxonomy.class_names, imgsz=imgsz,
                           top_k=config.top_k, min_score=config.preannotation_min_score, work_dir=lake.work,
                           device=trainer.device, media_base_url=media_url)
    if not mined.frames_scored:
        context.log.warning(f"{scene}/{day}: no sampled frames to mine")
    table, files = mined.ranked, mined.queue_files
    record_event(store, "labeling_queue_export", mined.queue_folder, f"{len(table)} frames mined by champion v{version}",
                 run_tags=dict(context.run.tags))
    videos = store.read_table(lake_keys.RAW_VIDEOS, lake_partition(scene, day))
    names = {} if videos is None else dict(zip(videos["video_sha256"], videos["source_name"]))
    shown = table.assign(video=table["video_sha256"].map(lambda v: names.get(v, v[:12])))[
        ["video", "frame_index", "timestamp_s", "uncertainty", "detections", "max_confidence"]]
    url_kind = "base-url" if media_url else "local-files" if store.is_local else "object-store"
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(table),
        "frames_scored": mined.frames_scored,
        "champion_version": version,
        "champion": dg.MetadataValue.url(mlflow_model_url(mlflow.model_name, version)),
        "frames_queued": len(table),
        "preannotated_boxes": len(mined.boxes),
        "queue": dg.MetadataValue.md(md_table(shown)),
        **_queue_preview(store, mined, names, (scene, day)),
        "how_to_open": dg.MetadataValue.md(opening_instructions(mined.queue_folder, url_kind)),
        **labelling_order_metadata(store, version, scene, day),
        "max_uncertainty": readable(table["uncertainty"].max()) if len(table) else 0.0,
        # Lake keys: under the lake root wherever it is now (metadata outlives any one location of the data).
        "labeling_queue": dg.MetadataValue.path(mined.queue_folder),
        "label_studio_import": dg.MetadataValue.path(files["label_studio.json"]),
        "coco_import": dg.MetadataValue.path(files[COCO_FILE]),
        "cvat_images_imports": dg.MetadataValue.json(sorted(k for n, k in files.items()
                                                            if n.startswith("cvat_images/") and n.endswith(".xml"))),
    })


def _queue_preview(store, mined, names: dict[str, str], partition: tuple[str, str]) -> dict:
    """The queued frames with the champion's boxes: a thumbnail inline, the full-size grid in the lake."""
    from vision_assets.core.mining.queue_preview import queue_sheet
    from vision_assets.core.preview import decode_jpeg, remember_preview, thumbnail

    sheet = queue_sheet(lambda key: store.fs.cat_file(store.resolve(key)), mined.ranked, mined.boxes, names)
    if sheet is None:
        return {}
    _, key, _ = store.put_blob_bytes(lake_keys.PREVIEW_BLOBS, sheet, ".jpg")
    remember_preview(store, *partition, key)  # forget removes it with the partition's videos
    caption = (f"The {min(12, len(mined.ranked))} most uncertain queued frames with the champion's boxes (class, "
               f"score); full size: lake key `{key}`")
    return {"queued_frames": dg.MetadataValue.md(f"{md_image(thumbnail(decode_jpeg(sheet)), 'queued frames')}\n\n"
                                                 f"{caption}"),
            "queued_frames_full_size": lake_link(store, key)}


ORDER_SHOWN = 15  # queues in the labelling_order table: the ones to label next (`vision-assets queue` lists all)


def labelling_order_metadata(store, version: str, scene: str, day: str) -> dict:
    """Where this queue stands among every queue of the champion: the first queues of the labelling order (drifting
    footage first by p-value, then the most uncertain queues) as a table, and this queue's rank in it."""
    from vision_assets.core.monitoring.feedback import read_labelling_order

    order = read_labelling_order(store, version)
    shown = order[["rank", "scene", "day", "drift_verdict", "drift_p_value", "frames_queued", "max_uncertainty",
                   "queue_folder"]]
    here = order.loc[(order["scene"] == scene) & (order["day"] == day), "rank"]
    where = (f"This queue is #{int(here.iloc[0])} of {len(order)}." if len(here)
             else f"This queue is empty: not among the {len(order)} queues to label.")
    table = md_table(shown, max_rows=ORDER_SHOWN)
    return {"labelling_order": dg.MetadataValue.md(f"{where} Label in this order (drifting footage first, smallest "
                                                   f"p-value first; then the most uncertain queues; all of them: "
                                                   f"`vision-assets queue`):\n\n{table}"),
            "labelling_rank": int(here.iloc[0]) if len(here) else 0}


hard_examples_job = dg.define_asset_job("mine_hard_examples", selection=[hard_examples], partitions_def=scene_day)


def mining_requests(lake: LakeResource, mlflow: MlflowResource) -> list[dg.RunRequest] | dg.SkipReason:
    """One run per partition whose current frames the current champion has not mined; the run key names the
    champion version and partition, so a partition is mined once per champion whoever asks."""
    from vision_assets.core.mining.partition import partitions_to_mine

    champion = mlflow.registry().champion(mlflow.model_name)
    if champion is None:
        return dg.SkipReason("no champion model yet")
    version = str(champion.version)
    return [dg.RunRequest(partition_key=scene_day_key(p["scene"], p["day"]), run_key=f"v{version}:{p['scene']}|{p['day']}",
                          tags={"vision/champion_version": version})
            for p in partitions_to_mine(lake.lake(), version)]


@dg.schedule(job=hard_examples_job, cron_schedule=NIGHTLY_CRON, default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Every night, the champion mines each partition it has not mined yet.")
def nightly_hard_examples(context: dg.ScheduleEvaluationContext, lake: LakeResource, mlflow: MlflowResource):
    return mining_requests(lake, mlflow)


@dg.sensor(job=hard_examples_job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description="A new champion, or new frames, need not wait for the night: every partition the current "
                       "champion has not mined is mined now (the nightly schedule then finds nothing left).")
def champion_mining_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, mlflow: MlflowResource):
    requests = mining_requests(lake, mlflow)
    if isinstance(requests, dg.SkipReason) or requests:
        return requests
    return dg.SkipReason("the champion has mined every partition")
