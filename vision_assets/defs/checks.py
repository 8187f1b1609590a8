"""Checks of the scene x day assets, partitioned like their asset so each result records its scene and day.

Without a partitions_def a check's history mixes every partition's results and the asset page shows whichever ran
last; with it, the partition view says which camera-day failed (GraphQL assetCheckExecutions filters by partition).
"""

import warnings

import dagster as dg

from vision_assets.defs.partitions import scene_day


def scene_day_check(name: str, asset: str, description: str, *, blocking: bool = False) -> dg.AssetCheckSpec:
    # Dagster 1.13 marks partitioned check specs as a preview; the behaviour is what this project relies on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning if hasattr(dg, "PreviewWarning") else Warning)
        return dg.AssetCheckSpec(name, asset=asset, description=description, blocking=blocking,
                                 partitions_def=scene_day)


def severity_when_passing(context: dg.AssetExecutionContext, check_name: str) -> dg.AssetCheckSeverity:
    """The severity a passing result carries, for a check whose failures are ERROR in some partitions and WARN in
    others (qc_pass_rate: a warning where there are no labels). Dagster 1.13's UI colours a partitioned check by
    its latest execution's severity even when that execution passed and the failures it counts ("1 of 6 partitions
    failed") are other partitions': a passing ERROR result paints a warning red. So a passing result carries the
    worst severity among the other partitions failing now: WARN when only warnings (or nothing) fail. A passing
    result's severity changes nothing else (only a failing ERROR result blocks)."""
    from vision_assets.local.dagster_internals import AssetCheckExecutionRecordStatus, PartitionKeyFilter

    key = dg.AssetCheckKey(context.asset_key, check_name)
    storage = context.instance.event_log_storage
    failing = [info.partition_key for info in storage.get_asset_check_partition_info([key])
               if info.latest_execution_status == AssetCheckExecutionRecordStatus.FAILED
               and info.partition_key != context.partition_key]
    for partition in failing:
        latest = storage.get_latest_asset_check_execution_by_key([key], PartitionKeyFilter(key=partition)).get(key)
        if latest is None or latest.evaluation is None or latest.evaluation.severity == dg.AssetCheckSeverity.ERROR:
            return dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckSeverity.WARN
