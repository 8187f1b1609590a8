"""Stage 1: videos arriving in the landing zone become content-addressed, probed raw_videos partitions."""


import hashlib
import json

import dagster as dg

from vision_assets.core.ingest import ingest_partition
from vision_assets.core.landing import files_for_partition, partition_fingerprint, scan_landing
from vision_assets.defs.markdown import md_table
from vision_assets.defs.partitions import days, lake_partition, scene_and_day, scene_day, scene_day_key, scenes
from vision_assets.defs.resources import LakeResource

OWNERS = ["team:vision-data"]


@dg.asset(
    partitions_def=scene_day,
    group_name="ingest",
    kinds={"video", "parquet"},
    owners=OWNERS,
    code_version="1",
    check_specs=[dg.AssetCheckSpec("videos_decodable", asset="raw_videos",
                                   description="Warns when a video of the partition was quarantined or truncated.")],
    description=(
        "Videos of one camera scene on one day, as they arrived in the landing zone: stored once by sha256, "
        "probed by decoding (codec, fps, size, frame count), with the sidecar's device, weather and lighting. "
        "Undecodable files are quarantined with their reason; the rest of the partition goes on."
    ),
)
def raw_videos(context: dg.AssetExecutionContext, lake: LakeResource):
    scene, day = scene_and_day(context)
    store = lake.lake()
    partition = lake_partition(scene, day)
    files = files_for_partition(lake.landing, scene, day)
    table = ingest_partition(store, files, store.read_table("raw_videos", partition))
    store.write_table("raw_videos", table, partition)
    outcomes = table["outcome"].value_counts().to_dict()
    problems = table[table["outcome"] != "ok"]
    for row in problems.itertuples():
        context.log.warning(f"{row.source_name}: {row.outcome}: {row.reason}")
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "videos_ok": outcomes.get("ok", 0),
            "videos_truncated": outcomes.get("truncated", 0),
            "videos_quarantined": outcomes.get("quarantined", 0),
            "duplicates": int((table["duplicate_of"] != "").sum()),
            "frames_decoded": int(table["frames_decoded"].sum()),
            "bytes": int(table["source_size"].sum()),
            "dagster/uri": store.uri(store.table_relpath("raw_videos", partition)),
            "videos": dg.MetadataValue.md(md_table(table[["source_name", "outcome", "codec", "width", "height", "fps",
                                                          "frames_decoded", "lighting", "reason"]])),
        },
        data_version=dg.DataVersion(_table_version(table)),
    )
    yield dg.AssetCheckResult(
        check_name="videos_decodable",
        passed=problems.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"problems": dg.MetadataValue.md(md_table(problems[["source_name", "outcome", "reason"]]))},
    )


def _table_version(table) -> str:
    """What downstream stages consume: which bytes, with which outcome."""
    pairs = sorted(zip(table["video_sha256"], table["outcome"], table["duplicate_of"]))
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]


ingest_job = dg.define_asset_job("ingest_videos", selection=[raw_videos], partitions_def=scene_day,
                                 description="Ingest one scene x day of the landing zone.")


@dg.sensor(job=ingest_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Watches landing/<scene>/<YYYY-MM-DD>/: adds new scenes and days as partitions and requests "
                       "one ingest run per scene x day with files not yet in the lake. Refused files are logged.")
def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    store = lake.lake()
    by_partition: dict[tuple[str, str], list] = {}
    for landed in scan_landing(lake.landing):
        if landed.refused:
            context.log.warning(f"refused: {landed.refused}")
            continue
        by_partition.setdefault((landed.scene, landed.day), []).append(landed)
    requested = json.loads(context.cursor) if context.cursor else {}
    run_requests, new_scenes, new_days = [], set(), set()
    known_scenes = set(context.instance.get_dynamic_partitions(scenes.name))
    known_days = set(context.instance.get_dynamic_partitions(days.name))
    for (scene, day), files in sorted(by_partition.items()):
        ingested = store.read_table("raw_videos", lake_partition(scene, day))
        seen = set() if ingested is None else set(
            zip(ingested["source_name"], ingested["source_size"], ingested["source_mtime_ns"]))
        fresh = [f for f in files if (f.path.name, f.size, f.mtime_ns) not in seen]
        fingerprint = partition_fingerprint(files)
        key = scene_day_key(scene, day)
        # The lake says what is ingested; the cursor only stops re-requesting while a run is still queued.
        if not fresh or requested.get(str(key)) == fingerprint:
            continue
        requested[str(key)] = fingerprint
        new_scenes.update({scene} - known_scenes)
        new_days.update({day} - known_days)
        run_requests.append(dg.RunRequest(partition_key=key, run_key=f"{key}:{fingerprint}",
                                          tags={"vision/new_files": str(len(fresh))}))
        context.log.info(f"{scene}/{day}: {len(fresh)} new file(s): {', '.join(f.path.name for f in fresh)}")
    if not run_requests:
        return dg.SkipReason("no new files in the landing zone")
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[r for r in (
            scenes.build_add_request(sorted(new_scenes)) if new_scenes else None,
            days.build_add_request(sorted(new_days)) if new_days else None,
        ) if r is not None],
        cursor=json.dumps(requested, sort_keys=True),
    )
