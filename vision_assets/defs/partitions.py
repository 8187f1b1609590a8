"""Scene-day partitions: one dynamic partition per scene and day that has footage, keyed `<day>|<scene>`.

Why one dimension and not scene x day: a multi-partition of two dynamic dimensions (`scenes`, `days`) is their
cross product, so a new day for one scene made that day a partition of every scene, each shown "Missing" although
its footage can never exist. One key per landed scene-day is exactly the set of partitions with footage. The key
keeps the string a `MultiPartitionKey` of that product had (dimensions sorted by name: day, then scene), so run
tags, run keys, materializations and lake records written before the change still name the same partition.

A daily time dimension would create an empty partition for every scene and every calendar day, and Dagster's
eager automation only acts on the latest time window (issue #24474), so footage for an older day arriving late
would never be carried through. Days are validated as YYYY-MM-DD by the landing sensor instead.
"""

import dagster as dg

from vision_assets.core.errors import InvalidOption

scene_day = dg.DynamicPartitionsDefinition(name="scene_days")

# The two dimensions of the cross product used before; an instance that still has them is migrated by the landing
# sensor (every raw_videos partition it materialized becomes a scene-day key).
LEGACY_PARTITIONS_DEFS = ("scenes", "days")
_SEPARATOR = "|"


def scene_day_key(scene: str, day: str) -> str:
    return f"{day}{_SEPARATOR}{scene}"


def split_scene_day(partition_key: str) -> tuple[str, str]:
    """(scene, day) of a `<day>|<scene>` key."""
    day, separator, scene = str(partition_key).partition(_SEPARATOR)
    if not separator or not day or not scene or _SEPARATOR in scene:
        raise InvalidOption(object=f"partition {partition_key!r}", problem="not a scene-day key '<YYYY-MM-DD>|<scene>'")
    return scene, day


def scene_and_day(context: dg.AssetExecutionContext) -> tuple[str, str]:
    return split_scene_day(context.partition_key)


def lake_partition(scene: str, day: str) -> dict[str, str]:
    return {"scene": scene, "day": day}
