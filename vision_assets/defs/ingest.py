"""Stage 1: videos arriving in the landing zone become content-addressed, probed raw_videos partitions."""

import dagster as dg

from vision_assets.core.lake import keys as lake_keys
from vision_assets.defs import keys
from vision_assets.defs.automation import INPUTS_TAG, hold_back_reason
from vision_assets.defs.checks import scene_day_check
from vision_assets.defs.markdown import lake_location, md_table
from vision_assets.defs.partitions import (
    LEGACY_PARTITIONS_DEFS,
    lake_partition,
    scene_and_day,
    scene_day,
    scene_day_key,
)
from vision_assets.defs.resources import IngestPolicyResource, LakeResource

# The ingest core (pandas, PyAV, OpenCV) is imported inside the asset and sensor bodies: loading the code location
# should cost little more than importing dagster.
OWNERS = ["team:vision-data"]


@dg.asset(
    partitions_def=scene_day,
    group_name=keys.DATA_GROUP,
    kinds={"video", "parquet"},
    owners=OWNERS,
    code_version="1",
    check_specs=[
        scene_day_check(keys.VIDEOS_DECODABLE, keys.RAW_VIDEOS,
                          description="Warns when a video of the partition was quarantined or truncated."),
        scene_day_check(keys.NO_DUPLICATE_FOOTAGE, keys.RAW_VIDEOS,
                          description="Warns about byte-identical copies and re-encodes of footage already in the lake."),
    ],
    description=(
        "Videos of one camera scene on one day, as they arrived in the landing zone: stored once by sha256, "
        "probed by decoding (codec, real fps and duration from timestamps, size, decoded versus claimed frame "
        "count), with the sidecar's device, capture time, weather, lighting and tags. Undecodable files are "
        "quarantined with their reason, truncated ones keep their decodable part; copies and re-encodes of "
        "footage already in the lake are reported against the original. The rest of the partition goes on."
    ),
)
def raw_videos(context: dg.AssetExecutionContext, lake: LakeResource, ingest_policy: IngestPolicyResource):
    from vision_assets.core.ingest import files_for_partition, ingest_partition
    from vision_assets.core.ingest.changes import duplicate_report, raw_videos_version
    from vision_assets.core.ingest.tables import read_table_or_none
    from vision_assets.core.ingest.video_index import other_partitions, read_video_index, update_video_index

    scene, day = scene_and_day(context)
    store, partition = lake.lake(), lake_partition(scene, day)
    elsewhere = other_partitions(read_video_index(store), scene, day)  # one table, not every partition's
    table = ingest_partition(store, files_for_partition(lake.landing, scene, day),
                             read_table_or_none(store, lake_keys.RAW_VIDEOS, partition), lake.work / "ingest",
                             elsewhere=elsewhere, options=ingest_policy.options())
    store.write_table(lake_keys.RAW_VIDEOS, table, partition)
    update_video_index(store, scene, day, table)
    outcomes = table["outcome"].value_counts().to_dict()
    problems = table[table["outcome"] != "ok"]
    for row in problems.itertuples():
        context.log.warning(f"{row.source_name}: {row.outcome}: {row.reason}")
    copies = duplicate_report(table)
    for row in copies.itertuples():
        context.log.warning(f"{row.source_name}: {row.kind} of {row.original}")
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "videos_ok": outcomes.get("ok", 0),
            "videos_truncated": outcomes.get("truncated", 0),
            "videos_quarantined": outcomes.get("quarantined", 0),
            "duplicates": int((table["duplicate_of"] != "").sum()),
            "near_duplicates": int((table["near_duplicate_of"] != "").sum()),
            "frames_decoded": int(table["frames_decoded"].sum()),
            "seconds_decoded": float(table["duration_s"].sum()),
            "bytes": int(table["source_size"].sum()),
            "normalised": int((table["normalised_path"] != "").sum()),
            **lake_location(store, lake_keys.table_key(lake_keys.RAW_VIDEOS, partition)),
            "videos": dg.MetadataValue.md(md_table(table[["source_name", "outcome", "codec", "width", "height", "fps",
                                                          "fps_header", "frames_decoded", "frames_claimed",
                                                          "duration_s", "lighting", "reason"]])),
        },
        data_version=dg.DataVersion(raw_videos_version(table)),
    )
    yield dg.AssetCheckResult(
        check_name=keys.VIDEOS_DECODABLE,
        passed=problems.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())),
        metadata={"problems": dg.MetadataValue.md(md_table(problems[["source_name", "outcome", "reason"]]))},
    )
    yield dg.AssetCheckResult(
        check_name=keys.NO_DUPLICATE_FOOTAGE,
        passed=copies.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(copies)} copie(s) of footage already in the lake" if len(copies) else "no copies",
        metadata={"copies": dg.MetadataValue.md(md_table(copies))},
    )


ingest_job = dg.define_asset_job("ingest_videos", selection=[raw_videos], partitions_def=scene_day,
                                 description="Ingest one scene x day of the landing zone.")


@dg.sensor(job=ingest_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Watches `landing/<scene>/<YYYY-MM-DD>/` (or a sidecar's scene and day): adds each new "
                       "scene-day as a partition and requests one ingest run per scene-day with files (or label files "
                       "beside them) not yet in the lake. Refused files are logged with their reason and listed on "
                       "raw_videos as an observation whenever the list changes.")
def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    from vision_assets.core.ingest.changes import landing_changes

    changes = landing_changes(lake.lake(), lake.landing)
    for refused in changes.refused:
        context.log.warning(f"refused: {refused}")
    refusal_events, cursor = _refusal_observation(changes.refused, context.cursor)
    # The lake says what is ingested; the instance says what is still running or keeps failing.
    run_requests = []
    for change in changes.changed:
        key = scene_day_key(change.scene, change.day)
        held = hold_back_reason(context.instance, ingest_job.name, key, change.fingerprint)
        if held:
            context.log.info(f"{change.scene}/{change.day}: not requested: {held}")
            continue
        run_requests.append(dg.RunRequest(partition_key=key, tags={"vision/new_files": str(len(change.fresh)),
                                                                   INPUTS_TAG: change.fingerprint}))
        context.log.info(f"{change.scene}/{change.day}: {len(change.fresh)} new or changed file(s): "
                         f"{', '.join(f.path.name for f in change.fresh)}")
    adds = _partition_adds(context.instance, set(changes.partitions))
    if not run_requests and not adds and not refusal_events:
        return dg.SkipReason("no new files in the landing zone")
    return dg.SensorResult(run_requests=run_requests, dynamic_partitions_requests=adds, asset_events=refusal_events,
                           cursor=cursor)


def _partition_adds(instance: dg.DagsterInstance, landed: set[tuple[str, str]]) -> list:
    """Every landed scene-day is a partition, also for an instance that is newer than the lake. An instance from
    before scene-day keys (scene x day dimensions) gets a key for every raw_videos partition it materialized."""
    known = set(instance.get_dynamic_partitions(scene_day.name))
    wanted = {scene_day_key(scene, day) for scene, day in landed}
    if any(instance.get_dynamic_partitions(name) for name in LEGACY_PARTITIONS_DEFS):
        wanted |= set(instance.get_materialized_partitions(keys.RAW_VIDEOS))
    new_keys = sorted(wanted - known)
    return [scene_day.build_add_request(new_keys)] if new_keys else []


def _refusal_observation(refused: list[str], cursor: str | None) -> tuple[list, str]:
    """Refusals are shown on the raw_videos asset page, once per change of the list rather than every tick."""
    import pandas as pd

    from vision_assets.core.ingest.changes import refusals_digest

    digest = refusals_digest(refused)
    if digest == (cursor or refusals_digest([])):
        return [], digest
    observation = dg.AssetObservation(asset_key=keys.RAW_VIDEOS, metadata={
        "refused_files": len(refused),
        "refusals": dg.MetadataValue.md(md_table(pd.DataFrame({"refused": sorted(refused)}))),
    })
    return [observation], digest
