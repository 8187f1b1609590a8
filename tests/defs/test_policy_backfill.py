"""A sampling-policy change for one scene: the backfill resamples exactly that scene's partitions, through a real
Dagster backfill record and runs tagged with it, with no more at once than the repo's dagster.yaml allows."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest
from helpers import REPO_ROOT, settings_for, texture, tiny_definitions, write_clip

from vision_assets.cli.backfill_commands import (
    BACKFILL_TAG,
    backfill_run_limit,
    policy_affected_partitions,
    queue_backfill,
    run_backfill_here,
    target_partitions,
)
from vision_assets.core.sampling.policy_changes import (
    SampledPartition,
    changed_policy_partitions,
    policy_fingerprint,
)
from vision_assets.defs import keys
from vision_assets.defs.resources import SamplingPolicyResource, SceneSampling
from vision_assets.local_daemon import LocalDaemon

PLACED = {"cam-a": ["2024-01-01"], "cam-b": ["2024-01-01", "2024-01-02", "2024-01-03"]}


def test_fingerprint_ignores_key_order_and_number_spelling_and_unrecorded_counts_as_changed():
    assert policy_fingerprint({"a": 1, "p": {"every_seconds": 1.0}}) == policy_fingerprint({"p": {"every_seconds": 1}, "a": 1})
    assert policy_fingerprint({"p": {"every_seconds": 0.5}}) != policy_fingerprint({"p": {"every_seconds": 1}})
    sampled = [SampledPartition("x|a", "a", "h1"), SampledPartition("x|b", "b", "h1"), SampledPartition("y|b", "b", None)]
    assert changed_policy_partitions(sampled, {"a": "h1", "b": "h1"}) == ["y|b"]
    assert changed_policy_partitions(sampled, {"a": "h1", "b": "h2"}) == ["x|b", "y|b"]


@pytest.fixture
def repo_instance(tmp_path, monkeypatch):
    """An instance configured by the repo's own dagster.yaml (its run queue limits included)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def _materializations(instance) -> dict[str, int]:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=keys.SAMPLED_FRAMES), limit=1000).records
    counts: dict[str, int] = {}
    for record in records:
        counts[record.partition_key] = counts.get(record.partition_key, 0) + 1
    return counts


@pytest.mark.slow
def test_a_policy_change_for_one_scene_backfills_exactly_its_partitions(tmp_path, repo_instance):
    instance = repo_instance
    settings = settings_for(tmp_path / "data")
    for n, (scene, day) in enumerate((s, d) for s, days in PLACED.items() for d in days):
        target = settings.landing_dir / scene / day / "clip.mp4"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_clip(target, [texture(10 * n + i, (64, 48)) for i in range(10)])  # 1 s, distinct per partition
    defs = tiny_definitions(settings)
    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    cursor = daemon.automation_cursor()
    daemon.sensor_tick("landing_sensor")
    daemon.automation_until_quiet(cursor)
    assert all(run.success for run in daemon.runs)
    before = _materializations(instance)
    assert len(before) == 4 and set(before.values()) == {1}
    assert policy_affected_partitions(defs, instance) == []  # sampled under today's policy

    default = defs.resources["sampling"].default
    changed = tiny_definitions(settings, sampling=SamplingPolicyResource(default=default, scenes={
        "cam-b": SceneSampling(params={"every_seconds": 0.25})}))
    affected = target_partitions(changed, instance, keys.SAMPLED_FRAMES, [], changed_policy=True)
    cam_b = sorted(p for p in before if "cam-b" in p)
    assert affected == cam_b and len(affected) == 3

    limit = backfill_run_limit(instance)
    assert limit == 2  # dagster.yaml: dagster/backfill tag limit 2 (of max_concurrent_runs 4)
    backfill_id, runs = run_backfill_here(changed, instance, keys.SAMPLED_FRAMES, affected)
    assert sorted(r["partition"] for r in runs) == cam_b and all(r["success"] for r in runs)

    after = _materializations(instance)
    assert {p: after[p] - before[p] for p in before} == {p: int(p in cam_b) for p in before}
    assert policy_affected_partitions(changed, instance) == []  # nothing left to resample

    backfill = instance.get_backfill(backfill_id)
    assert backfill.status.value == "COMPLETED_SUCCESS"
    assert sorted(backfill.asset_backfill_data.target_subset.get_partitions_subset(keys.SAMPLED_FRAMES)
                  .get_partition_keys()) == cam_b
    tagged = instance.get_run_records(dg.RunsFilter(tags={BACKFILL_TAG: backfill_id}))
    assert sorted(r.dagster_run.tags["dagster/partition"] for r in tagged) == cam_b
    spans = sorted((r.start_time, r.end_time) for r in tagged)
    assert all(start is not None and end is not None and start <= end for start, end in spans)
    most_at_once = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most_at_once == 1  # here one after another; parallel backfills are the daemon's, bounded by `limit`

    # For the daemon instead: a REQUESTED backfill of the same partitions, which the run queue bounds.
    queued = instance.get_backfill(queue_backfill(changed, instance, keys.SAMPLED_FRAMES, affected))
    assert queued.status.value == "REQUESTED" and queued.asset_selection == [keys.SAMPLED_FRAMES]
