"""`vision-assets backfill`: rematerialize many partitions of one asset as a Dagster backfill: run here one after
another, or (--queue) left to the daemon, whose run queue runs at most the backfill limit at once (dagster.yaml, tag
dagster/backfill); --changed-policy picks exactly the sampled_frames partitions whose scene's sampling policy changed
since they were sampled."""

from __future__ import annotations

import argparse
import json
import time

from vision_assets.cli.environment import prepare_environment
from vision_assets.core.errors import VisionError

BACKFILL_TAG = "dagster/backfill"  # Dagster's own tag: the UI groups the runs under their backfill


def register(sub) -> None:
    backfill = sub.add_parser("backfill", help="rematerialize partitions of an asset as a Dagster backfill with "
                                               "bounded concurrency (all partitions, some scenes, or those whose "
                                               "sampling policy changed)")
    backfill.add_argument("asset", help="asset key, e.g. sampled_frames")
    backfill.add_argument("--scene", action="append", default=[], help="only this scene's partitions (repeatable)")
    backfill.add_argument("--changed-policy", action="store_true",
                          help="only partitions whose scene's effective sampling policy differs from the one their "
                               "last materialization recorded (sampled_frames)")
    backfill.add_argument("--queue", action="store_true",
                          help="only record the backfill; the Dagster daemon (make ui) runs it through the run queue")
    backfill.add_argument("--json", action="store_true", help="print one JSON object")
    backfill.set_defaults(func=cmd_backfill)


def cmd_backfill(args: argparse.Namespace) -> int:
    prepare_environment()
    import dagster as dg

    from vision_assets.definitions import defs

    instance = dg.DagsterInstance.get()
    key = dg.AssetKey.from_user_string(args.asset)
    partitions = target_partitions(defs, instance, key, args.scene, args.changed_policy)
    limit = backfill_run_limit(instance)
    if not partitions:
        result = {"backfill_id": None, "partitions": [], "limit": limit, "runs": []}
    elif args.queue:
        result = {"backfill_id": queue_backfill(defs, instance, key, partitions), "partitions": partitions,
                  "limit": limit, "runs": []}
    else:
        backfill_id, runs = run_backfill_here(defs, instance, key, partitions)
        result = {"backfill_id": backfill_id, "partitions": partitions, "limit": limit, "runs": runs}
    if args.json:
        print(json.dumps(result, indent=2))
    elif not partitions:
        print(f"{args.asset}: nothing to backfill")
    else:
        how = f"queued: the daemon runs at most {limit} at once" if args.queue else "ran here, one at a time"
        print(f"backfill {result['backfill_id']} of {args.asset}: {len(partitions)} partition(s), {how}")
        for run in result["runs"]:
            print(f"  {'ok' if run['success'] else 'FAILED'} {run['partition']} (run {run['run_id'][:8]})")
    return 1 if any(not run["success"] for run in result["runs"]) else 0


def target_partitions(defs, instance, key, scenes: list[str], changed_policy: bool) -> list[str]:
    from vision_assets.defs import keys

    graph = defs.resolve_asset_graph()
    if key not in graph.materializable_asset_keys:
        raise VisionError(f"{key.to_user_string()}: no such asset to backfill")
    partitions_def = graph.get(key).partitions_def
    if partitions_def is None:
        raise VisionError(f"{key.to_user_string()}: not partitioned; materialize it instead of backfilling")
    if changed_policy:
        if key != keys.SAMPLED_FRAMES:
            raise VisionError(f"--changed-policy applies to {keys.SAMPLED_FRAMES.to_user_string()}, the asset that "
                              f"records the sampling policy, not {key.to_user_string()}")
        chosen = policy_affected_partitions(defs, instance)
    else:  # partitions with footage that were ingested (or already hold this asset)
        existing = set(partitions_def.get_partition_keys(dynamic_partitions_store=instance))
        landed = instance.get_materialized_partitions(keys.RAW_VIDEOS) | instance.get_materialized_partitions(key)
        chosen = sorted(existing & landed)
    if scenes:
        chosen = [p for p in chosen if _scene_of(p) in set(scenes)]
    return chosen


def _scene_of(partition: str) -> str:
    from vision_assets.defs.partitions import split_scene_day

    return split_scene_day(partition)[0]


def policy_affected_partitions(defs, instance) -> list[str]:
    """sampled_frames partitions sampled under another policy than their scene has now."""
    import dagster as dg

    from vision_assets.core.sampling.policy_changes import (
        POLICY_METADATA_KEY,
        SampledPartition,
        changed_policy_partitions,
        policy_fingerprint,
    )
    from vision_assets.defs import keys

    latest: dict[str, object] = {}
    cursor = None
    while True:  # oldest first, so each partition ends up with its latest materialization
        page = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=keys.SAMPLED_FRAMES), limit=1000,
                                               cursor=cursor, ascending=True)
        for record in page.records:
            latest[record.partition_key] = record.asset_materialization.metadata.get(POLICY_METADATA_KEY)
        if not page.has_more:
            break
        cursor = page.cursor
    sampling = defs.resources["sampling"]
    sampled = [SampledPartition(partition, _scene_of(partition), getattr(value, "value", None))
               for partition, value in latest.items() if partition is not None]
    current = {p.scene: policy_fingerprint(sampling.for_scene(p.scene).model_dump()) for p in sampled}
    return changed_policy_partitions(sampled, current)


def backfill_run_limit(instance) -> int:
    """How many backfill runs the run queue lets run at once: its dagster/backfill tag limit, else its overall one."""
    queue = instance.get_concurrency_config().run_queue_config
    if queue is None:
        return 1
    limits = [int(rule["limit"]) for rule in queue.tag_concurrency_limits if rule.get("key") == BACKFILL_TAG]
    overall = queue.max_concurrent_runs if queue.max_concurrent_runs >= 0 else None  # -1: unlimited
    bounded = [n for n in [*limits, overall] if n is not None]
    return max(1, min(bounded)) if bounded else 1


def _backfill_record(defs, instance, key, partitions: list[str], backfill_id: str):
    from vision_assets.local.dagster_internals import PartitionBackfill

    return PartitionBackfill.from_asset_partitions(
        backfill_id=backfill_id, asset_graph=defs.resolve_asset_graph(), partition_names=partitions,
        asset_selection=[key], backfill_timestamp=time.time(), tags={}, dynamic_partitions_store=instance,
        all_partitions=False, title=f"vision-assets backfill {key.to_user_string()}",
        description=f"{len(partitions)} partition(s)", run_config=None)


def queue_backfill(defs, instance, key, partitions: list[str]) -> str:
    """A REQUESTED backfill: the daemon's backfill loop submits its runs, the run queue bounds them."""
    from vision_assets.local.dagster_internals import make_new_backfill_id

    backfill = _backfill_record(defs, instance, key, partitions, make_new_backfill_id())
    instance.add_backfill(backfill)
    return backfill.backfill_id


def run_backfill_here(defs, instance, key, partitions: list[str]) -> tuple[str, list[dict]]:
    """The backfill's runs executed in this process, one after another, each tagged with the backfill; the backfill
    is recorded with its outcome once done, so the daemon never submits it a second time."""
    from vision_assets.local.daemon import LocalDaemon
    from vision_assets.local.dagster_internals import BulkActionStatus, make_new_backfill_id
    from vision_assets.local.launch import ASSET_JOB

    backfill_id = make_new_backfill_id()
    daemon = LocalDaemon(defs, instance, log=lambda _: None)

    runs = [daemon._create(ASSET_JOB, partition, [key], {BACKFILL_TAG: backfill_id}) for partition in partitions]
    # One at a time here: a run's steps fork worker processes (sampling), which is unsafe from several threads of one
    # process; running the partitions in parallel is the daemon's job (--queue), bounded by `limit`.
    outcomes = [daemon._execute_created(run) for run in runs]
    success = all(o.success for o in outcomes)
    backfill = _backfill_record(defs, instance, key, partitions, backfill_id)
    instance.add_backfill(backfill.with_status(BulkActionStatus.COMPLETED_SUCCESS if success
                                               else BulkActionStatus.COMPLETED_FAILED)
                          .with_end_timestamp(time.time()))
    return backfill_id, [{"partition": o.partition, "run_id": o.run_id, "success": o.success} for o in outcomes]
