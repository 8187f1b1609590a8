"""Scene x day partitions. Both dimensions are dynamic: they exist where footage exists.

A daily time dimension would create an empty partition for every scene and every calendar day, and
Dagster's eager automation only acts on the latest time window of a time dimension (issue #24474), so
footage for an older day arriving late would never be carried through. Days are validated as YYYY-MM-DD
by the landing sensor instead.
"""

import dagster as dg

scenes = dg.DynamicPartitionsDefinition(name="scenes")
days = dg.DynamicPartitionsDefinition(name="days")
scene_day = dg.MultiPartitionsDefinition({"scene": scenes, "day": days})


def scene_day_key(scene: str, day: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"scene": scene, "day": day})


def scene_and_day(context: dg.AssetExecutionContext) -> tuple[str, str]:
    """Works for real runs (MultiPartitionKey) and for build_asset_context (a plain string)."""
    key = scene_day.get_partition_key_from_str(str(context.partition_key))
    dims = key.keys_by_dimension
    return dims["scene"], dims["day"]


def lake_partition(scene: str, day: str) -> dict[str, str]:
    return {"scene": scene, "day": day}
