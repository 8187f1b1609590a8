"""Stage 1: videos arriving in the landing zone become content-addressed, probed raw_videos partitions."""

import hashlib
import json

import dagster as dg
import pandas as pd

from vision_assets.core.ingest import (
    files_for_partition,
    ingest_partition,
    label_fingerprint,
    partition_fingerprint,
    scan_landing,
)
from vision_assets.defs.automation import INPUTS_TAG, hold_back_reason
from vision_assets.defs.markdown import md_table
from vision_assets.defs.partitions import days, lake_partition, scene_and_day, scene_day, scene_day_key, scenes
from vision_assets.defs.resources import IngestPolicyResource, LakeResource

OWNERS = ["team:vision-data"]


@dg.asset(
    partitions_def=scene_day,
    group_name="ingest",
    kinds={"video", "parquet"},
    owners=OWNERS,
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec("videos_decodable", asset="raw_videos",
                          description="Warns when a video of the partition was quarantined or truncated."),
        dg.AssetCheckSpec("no_duplicate_footage", asset="raw_videos",
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
    scene, day = scene_and_day(context)
    store = lake.lake()
    partition = lake_partition(scene, day)
    files = files_for_partition(lake.landing, scene, day)
    everything = store.read_tables("raw_videos")
    elsewhere = everything[(everything["scene"] != scene) | (everything["day"] != day)] if len(everything) else None
    table = ingest_partition(store, files, store.read_table("raw_videos", partition), lake.work / "ingest",
                             elsewhere=elsewhere, options=ingest_policy.options())
    store.write_table("raw_videos", table, partition)
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
            "dagster/uri": store.uri(store.table_relpath("raw_videos", partition)),
            "videos": dg.MetadataValue.md(md_table(table[["source_name", "outcome", "codec", "width", "height", "fps",
                                                          "fps_header", "frames_decoded", "frames_claimed",
                                                          "duration_s", "lighting", "reason"]])),
        },
        data_version=dg.DataVersion(_table_version(table)),
    )
    yield dg.AssetCheckResult(
        check_name="videos_decodable",
        passed=problems.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())),
        metadata={"problems": dg.MetadataValue.md(md_table(problems[["source_name", "outcome", "reason"]]))},
    )
    yield dg.AssetCheckResult(
        check_name="no_duplicate_footage",
        passed=copies.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(copies)} copie(s) of footage already in the lake" if len(copies) else "no copies",
        metadata={"copies": dg.MetadataValue.md(md_table(copies))},
    )


def duplicate_report(table: pd.DataFrame) -> pd.DataFrame:
    """Copies and re-encodes in a raw_videos table, each with the video it duplicates."""
    exact = table[table["duplicate_of"] != ""].assign(kind="duplicate", original=lambda t: t["duplicate_of"],
                                                       distance=0.0)
    near = table[table["near_duplicate_of"] != ""].assign(kind="near-duplicate",
                                                          original=lambda t: t["near_duplicate_of"],
                                                          distance=lambda t: t["near_duplicate_distance"])
    columns = ["source_name", "kind", "original", "distance"]
    return pd.concat([exact[columns], near[columns]], ignore_index=True) if len(exact) + len(near) else \
        pd.DataFrame(columns=columns)


def _table_version(table) -> str:
    """What downstream stages consume: which bytes, with which outcome."""
    pairs = sorted(zip(table["video_sha256"], table["outcome"], table["duplicate_of"]))
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]


ingest_job = dg.define_asset_job("ingest_videos", selection=[raw_videos], partitions_def=scene_day,
                                 description="Ingest one scene x day of the landing zone.")


def _known_labels(table) -> set[tuple]:
    if table is None:
        return set()
    labels = table["label_files"] if "label_files" in table else [""] * len(table)
    return set(zip(table["source_name"], table["source_size"], table["source_mtime_ns"], labels))


@dg.sensor(job=ingest_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Watches landing/<scene>/<YYYY-MM-DD>/ (or a sidecar's scene and day): adds new scenes and "
                       "days as partitions and requests one ingest run per scene x day with files (or label files "
                       "beside them) not yet in the lake. Refused files are logged with their reason and listed on "
                       "raw_videos as an observation whenever the list changes.")
def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    store = lake.lake()
    by_partition: dict[tuple[str, str], list] = {}
    refused = []
    for landed in scan_landing(lake.landing):
        if landed.refused:
            context.log.warning(f"refused: {landed.refused}")
            refused.append(landed.refused)
            continue
        by_partition.setdefault((landed.scene, landed.day), []).append(landed)
    refusal_events, cursor = _refusal_observation(refused, context.cursor)
    # The lake says what is ingested; the instance says what is still running or keeps failing.
    run_requests = []
    for (scene, day), files in sorted(by_partition.items()):
        seen = _known_labels(store.read_table("raw_videos", lake_partition(scene, day)))
        fresh = [f for f in files if (f.path.name, f.size, f.mtime_ns, label_fingerprint(f.path)) not in seen]
        if not fresh:
            continue
        key = scene_day_key(scene, day)
        fingerprint = partition_fingerprint(files)
        held = hold_back_reason(context.instance, ingest_job.name, key, fingerprint)
        if held:
            context.log.info(f"{scene}/{day}: not requested: {held}")
            continue
        run_requests.append(dg.RunRequest(partition_key=key, tags={"vision/new_files": str(len(fresh)),
                                                                   INPUTS_TAG: fingerprint}))
        context.log.info(f"{scene}/{day}: {len(fresh)} new or changed file(s): {', '.join(f.path.name for f in fresh)}")
    # Every landed scene and day is a partition, also for an instance that is newer than the lake.
    scene_names = sorted({s for s, _ in by_partition} - set(context.instance.get_dynamic_partitions(scenes.name)))
    day_names = sorted({d for _, d in by_partition} - set(context.instance.get_dynamic_partitions(days.name)))
    adds = [r for names, dim in ((scene_names, scenes), (day_names, days)) if names
            for r in [dim.build_add_request(names)]]
    if not run_requests and not adds and not refusal_events:
        return dg.SkipReason("no new files in the landing zone")
    return dg.SensorResult(run_requests=run_requests, dynamic_partitions_requests=adds, asset_events=refusal_events,
                           cursor=cursor)


def _refusal_observation(refused: list[str], cursor: str | None) -> tuple[list, str]:
    """Refusals are shown on the raw_videos asset page, once per change of the list rather than every tick."""
    digest = hashlib.sha256("\n".join(sorted(refused)).encode()).hexdigest()[:16]
    if digest == (cursor or hashlib.sha256(b"").hexdigest()[:16]):
        return [], digest
    observation = dg.AssetObservation(asset_key="raw_videos", metadata={
        "refused_files": len(refused),
        "refusals": dg.MetadataValue.md(md_table(pd.DataFrame({"refused": sorted(refused)}))),
    })
    return [observation], digest
