"""The scene x day grid from a Dagster instance and the lake: the scene-days are the instance's `scene_days`
partitions, the check states each partition's latest check evaluations, the numbers the lake's tables
(core/scene_day_grid.py). Served live by the links server (`/grid`) and written as Markdown on each
`qc_annotations` materialization (`scene_day_grid`), so the Dagster UI shows it too."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping, Sequence

import dagster as dg

from vision_assets.defs import keys
from vision_assets.defs.partitions import scene_day, split_scene_day

METADATA_DAYS = 14  # days (columns) in the metadata copy: each QC run reads only their partitions' tables


def scene_day_check_keys(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetCheckKey]:
    """The checks of every scene-day partitioned asset (each is partitioned like its asset)."""
    found = [spec.key for asset in assets if getattr(asset.partitions_def, "name", None) == scene_day.name
             for spec in asset.check_specs]
    return sorted(found, key=lambda k: (k.asset_key.to_user_string(), k.name))


def code_location_check_keys() -> list[dg.AssetCheckKey]:
    """The scene-day checks of this code location's assets (a step has no repository in an in-process run)."""
    from vision_assets.definitions import ALL_ASSETS

    return scene_day_check_keys(ALL_ASSETS)


def latest_check_states(instance: dg.DagsterInstance, check_keys: Sequence[dg.AssetCheckKey],
                        partition_key: str) -> list:
    """The latest evaluated result of each check on one partition (planned or never-run checks are left out)."""
    from vision_assets.core.scene_day_grid import CheckState
    from vision_assets.local.dagster_internals import PartitionKeyFilter

    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        list(check_keys), partition_filter=PartitionKeyFilter(key=partition_key))
    states = []
    for key, record in sorted(latest.items(), key=lambda item: (item[0].asset_key.to_user_string(), item[0].name)):
        if record.status.value not in ("SUCCEEDED", "FAILED") or record.event is None:  # not planned, evaluated
            continue
        evaluation = record.event.dagster_event.event_specific_data  # an AssetCheckEvaluation
        states.append(CheckState(asset=key.asset_key.to_user_string(), check=key.name, passed=bool(evaluation.passed),
                                 severity=evaluation.severity.value, description=evaluation.description or ""))
    return states


def check_states_of_results(asset: str, results: Iterable[dg.AssetCheckResult]) -> list:
    """States of check results a step is about to yield (not in the instance yet)."""
    from vision_assets.core.scene_day_grid import CheckState

    return [CheckState(asset=asset, check=r.check_name, passed=bool(r.passed), severity=r.severity.value,
                       description=r.description or "") for r in results]


def grid(instance: dg.DagsterInstance, lake, check_keys: Sequence[dg.AssetCheckKey],
         replaced: Mapping[str, Sequence] | None = None, *, latest_days: int | None = None) -> list:
    """A GridCell per scene-day partition of the instance (of its `latest_days` most recent days, if given);
    `replaced` ({partition key: [CheckState]}) stands in for those partitions' states of the same checks (a step's
    own results, before they are stored)."""
    from vision_assets.core.scene_day_grid import grid_cells

    partition_keys = instance.get_dynamic_partitions(scene_day.name)
    if latest_days:
        days = sorted({split_scene_day(key)[1] for key in partition_keys})[-latest_days:]
        partition_keys = [key for key in partition_keys if split_scene_day(key)[1] in days]
    checks = {}
    for partition_key in partition_keys:
        states = latest_check_states(instance, check_keys, partition_key)
        fresh = list((replaced or {}).get(partition_key, ()))
        names = {(s.asset, s.check) for s in fresh}
        checks[split_scene_day(partition_key)] = [s for s in states if (s.asset, s.check) not in names] + fresh
    return grid_cells(lake, list(checks), checks, drift_check=keys.FOOTAGE_IN_DISTRIBUTION)


def partition_page(base_url: str, asset: str, scene: str, day: str) -> str:
    """The Dagster UI's page of one asset partition (its materializations and checks); base_url "" is relative."""
    from vision_assets.defs.partitions import scene_day_key

    partition = urllib.parse.quote(scene_day_key(scene, day), safe="")
    return f"{base_url.rstrip('/')}/assets/{urllib.parse.quote(asset)}?view=partitions&partition={partition}"


def grid_markdown_metadata(context: dg.AssetExecutionContext, lake, replaced: Mapping[str, Sequence]) -> dg.MetadataValue:
    """The grid as Markdown for a step's metadata: its links are relative, so they open wherever the UI is served."""
    from vision_assets.core.scene_day_grid import grid_markdown

    cells = grid(context.instance, lake, code_location_check_keys(), replaced, latest_days=METADATA_DAYS)
    text = grid_markdown(cells, lambda c: partition_page("", c.worst_asset, c.scene, c.day))
    return dg.MetadataValue.md(text + f"\n\nAs of this materialization, the latest {METADATA_DAYS} days with footage; "
                                      "the live grid of every day is `/grid` on the links server that "
                                      "`vision-assets ui` starts.")
