"""Stage 1: videos arriving in the landing zone become content-addressed, probed raw_videos partitions."""

import hashlib
import json

import dagster as dg

from vision_assets.core.ingest import ingest_partition
from vision_assets.core.landing import files_for_partition, label_fingerprint, partition_fingerprint, scan_landing
from vision_assets.defs.automation import IN_FLIGHT_STATUSES
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
    table = ingest_partition(store, files, store.read_table("raw_videos", partition), lake.work / "ingest")
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


# A partition whose ingest failed this many times for the same files waits for a change to them.
MAX_INGEST_ATTEMPTS = 3


def _known_labels(table) -> set[tuple]:
    if table is None:
        return set()
    labels = table["label_files"] if "label_files" in table else [""] * len(table)
    return set(zip(table["source_name"], table["source_size"], table["source_mtime_ns"], labels))


@dg.sensor(job=ingest_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Watches landing/<scene>/<YYYY-MM-DD>/: adds new scenes and days as partitions and requests "
                       "one ingest run per scene x day with files (or label files beside them) not yet in the lake. "
                       "Refused files are logged with their reason.")
def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    store = lake.lake()
    by_partition: dict[tuple[str, str], list] = {}
    for landed in scan_landing(lake.landing):
        if landed.refused:
            context.log.warning(f"refused: {landed.refused}")
            continue
        by_partition.setdefault((landed.scene, landed.day), []).append(landed)
    # The lake says what is ingested; the instance says what is still running or keeps failing.
    run_requests = []
    for (scene, day), files in sorted(by_partition.items()):
        seen = _known_labels(store.read_table("raw_videos", lake_partition(scene, day)))
        fresh = [f for f in files if (f.path.name, f.size, f.mtime_ns, label_fingerprint(f.path)) not in seen]
        if not fresh:
            continue
        key = scene_day_key(scene, day)
        fingerprint = partition_fingerprint(files)
        runs = context.instance.get_runs(dg.RunsFilter(job_name=ingest_job.name, tags={"dagster/partition": str(key)}),
                                         limit=MAX_INGEST_ATTEMPTS + 5)
        if any(r.status in IN_FLIGHT_STATUSES for r in runs):
            context.log.info(f"{scene}/{day}: ingest still running")
            continue
        failed = [r for r in runs if r.status == dg.DagsterRunStatus.FAILURE
                  and r.tags.get("vision/landing_fingerprint") == fingerprint]
        if len(failed) >= MAX_INGEST_ATTEMPTS:
            context.log.warning(f"{scene}/{day}: ingest failed {len(failed)} times for these files "
                                f"(last run {failed[0].run_id}); waiting for a change to them")
            continue
        run_requests.append(dg.RunRequest(partition_key=key, tags={"vision/new_files": str(len(fresh)),
                                                                   "vision/landing_fingerprint": fingerprint}))
        context.log.info(f"{scene}/{day}: {len(fresh)} new or changed file(s): {', '.join(f.path.name for f in fresh)}")
    # Every landed scene and day is a partition, also for an instance that is newer than the lake.
    scene_names = sorted({s for s, _ in by_partition} - set(context.instance.get_dynamic_partitions(scenes.name)))
    day_names = sorted({d for _, d in by_partition} - set(context.instance.get_dynamic_partitions(days.name)))
    adds = [r for names, dim in ((scene_names, scenes), (day_names, days)) if names
            for r in [dim.build_add_request(names)]]
    if not run_requests and not adds:
        return dg.SkipReason("no new files in the landing zone")
    return dg.SensorResult(run_requests=run_requests, dynamic_partitions_requests=adds)
