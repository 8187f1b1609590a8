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
