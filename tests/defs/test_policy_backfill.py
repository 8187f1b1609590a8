"""A sampling-policy change for one scene: the backfill resamples exactly that scene's partitions, through a real
Dagster backfill that the daemon's loops submit through the run queue, with no more at once than the repo's
dagster.yaml allows; and the same backfill run by the command itself when no daemon runs."""

from __future__ import annotations

import logging
import shutil
import time

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
from vision_assets.local.daemon import LocalDaemon

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
def test_a_policy_change_for_one_scene_backfills_exactly_its_partitions(tmp_path, repo_instance, monkeypatch):
    instance = repo_instance
    monkeypatch.setenv("VISION_DATA_DIR", str(tmp_path / "data"))  # the daemon's code location reads the env
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

    # The deployment's policy file changes cam-b's sampling only.
    policy = tmp_path / "video_policy.yaml"
    policy.write_text("sampling:\n  scenes:\n    cam-b:\n      params: {every_seconds: 0.25}\n")
    monkeypatch.setenv("VISION_VIDEO_POLICY", str(policy))
    changed = tiny_definitions(settings_for(tmp_path / "data", VISION_VIDEO_POLICY=str(policy)))
    affected = target_partitions(changed, instance, keys.SAMPLED_FRAMES, [], changed_policy=True)
    cam_b = sorted(p for p in before if "cam-b" in p)
    assert affected == cam_b and len(affected) == 3

    limit = backfill_run_limit(instance)
    assert limit == 2  # dagster.yaml: dagster/backfill tag limit 2 (of max_concurrent_runs 4)
    backfill_id = queue_backfill(changed, instance, keys.SAMPLED_FRAMES, affected)
    first_queue_pass = _run_daemon_until_done(instance, backfill_id)
    in_flight = [status for status in first_queue_pass if status in ("STARTING", "STARTED")]
    assert len(in_flight) == limit and first_queue_pass.count("QUEUED") == 1  # the third waits for a free slot

    backfill = instance.get_backfill(backfill_id)
    assert backfill.status.value == "COMPLETED_SUCCESS"
    after = _materializations(instance)
    assert {p: after[p] - before[p] for p in before} == {p: int(p in cam_b) for p in before}
    assert policy_affected_partitions(changed, instance) == []  # nothing left to resample
    tagged = instance.get_run_records(dg.RunsFilter(tags={BACKFILL_TAG: backfill_id}))
    assert sorted(r.dagster_run.tags["dagster/partition"] for r in tagged) == cam_b
    assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in tagged)
    spans = [(r.start_time, r.end_time) for r in tagged]
    assert 1 <= max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans) <= limit

    # Without a daemon: the command runs the backfill itself, one run after another, tagged with the backfill.
    local_id, runs = run_backfill_here(changed, instance, keys.SAMPLED_FRAMES,
                                       target_partitions(changed, instance, keys.SAMPLED_FRAMES, ["cam-a"], False))
    assert [(r["partition"], r["success"]) for r in runs] == [("2024-01-01|cam-a", True)]
    assert _materializations(instance) == {**after, "2024-01-01|cam-a": 2}
    assert instance.get_backfill(local_id).status.value == "COMPLETED_SUCCESS"


def _run_daemon_until_done(instance, backfill_id: str) -> list[str]:
    """The Dagster daemon's backfill and run-queue loops over the repo's code location (definitions.py, a gRPC
    server process; runs launch as their own processes) until the backfill ends. Returns the backfill's run
    statuses right after the first run-queue pass."""
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import PythonFileTarget
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    target = PythonFileTarget(python_file=str(REPO_ROOT / "definitions.py"), attribute="defs",
                              working_directory=str(REPO_ROOT), location_name="vision_assets")
    logger = logging.getLogger("backfill_test")
    first: list[str] = []
    with create_test_daemon_workspace_context(target, instance) as workspace:
        queue = QueuedRunCoordinatorDaemon(interval_seconds=1)
        for _ in range(300):  # a bound on a hang, not a timing expectation
            list(execute_backfill_iteration(workspace, logger))
            if instance.get_backfill(backfill_id).status.value != "REQUESTED":
                return first
            list(queue.run_iteration(workspace))
            if not first:
                first = [r.status.value for r in instance.get_runs(dg.RunsFilter(tags={BACKFILL_TAG: backfill_id}))]
            time.sleep(0.5)
    raise AssertionError(f"backfill {backfill_id} did not finish: {instance.get_backfill(backfill_id).status}")
