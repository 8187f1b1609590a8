"""deploy/dagster.yaml against a real PostgreSQL server (and compute logs in a real S3 server): the landing
sensor, declarative automation and one partition's ingest, frames, labels and QC, all recorded in Postgres."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest
from helpers import REPO_ROOT, settings_for, tiny_definitions
from servers import postgres_server, s3_server

from vision_assets.defs.partitions import scene_day_key
from vision_assets.local.daemon import LocalDaemon

PRODUCTION_INSTANCE = REPO_ROOT / "deploy" / "dagster.yaml"
SCENE, DAY = "cam-a", "2026-11-18"


@dg.op
def print_line():
    print("stdout of a step on the production instance")


@dg.job
def print_job():
    print_line()


@pytest.fixture
def production_instance(tmp_path, monkeypatch):
    with postgres_server() as pg, s3_server("compute-logs") as s3:
        for name, value in {**pg.env(), **s3.env(), "DAGSTER_COMPUTE_LOG_BUCKET": "compute-logs",
                            "DAGSTER_COMPUTE_LOG_PREFIX": "vision"}.items():
            monkeypatch.setenv(name, value)
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(PRODUCTION_INSTANCE, home / "dagster.yaml")
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance, pg, s3


@pytest.mark.slow
def test_sensor_automation_and_ingest_run_on_postgres(tmp_path, production_instance, tiny_landing):
    instance, pg, s3 = production_instance
    settings = settings_for(tmp_path / "data")
    shutil.copytree(tiny_landing / SCENE / DAY, settings.landing_dir / SCENE / DAY)
    defs = tiny_definitions(settings)

    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    cursor = daemon.automation_cursor()
    assert daemon.sensor_tick("landing_sensor") == 1
    daemon.automation_until_quiet(cursor)

    assert [run.success for run in daemon.runs] == [True] * len(daemon.runs)
    assert {name for run in daemon.runs for name in run.assets} >= {
        "ingest_videos", "sampled_frames", "annotations", "qc_annotations"}
    partition = scene_day_key(SCENE, DAY)
    for asset in ("raw_videos", "sampled_frames", "annotations", "qc_annotations"):
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {partition}, asset
    assert instance.get_dynamic_partitions("scene_days") == [partition]

    # Everything above lives in the Postgres server, not in a file beside DAGSTER_HOME.
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    with pg.connect() as connection, connection.cursor() as cur:
        cur.execute("select count(*) from runs where status = 'SUCCESS'")
        assert cur.fetchone()[0] == len(daemon.runs)
        cur.execute("select count(*) from dynamic_partitions where partitions_def_name = 'scene_days' "
                    "and partition = %s", (partition,))
        assert cur.fetchone()[0] == 1
    assert not list((tmp_path / "dagster_home").glob("**/*.db"))

    # A step's stdout goes to the S3 server under the configured prefix (the pipeline's steps log through
    # Dagster's event log and print nothing, and empty captures are skipped).
    assert print_job.execute_in_process(instance=instance).success
    logs = [key for key in s3.keys("compute-logs", "vision/storage/") if key.endswith(".out")]
    assert len(logs) == 1
    body = s3.client().get_object(Bucket="compute-logs", Key=logs[0])["Body"].read().decode()
    assert "stdout of a step on the production instance" in body

    # The instance's own settings: the deploy file's run monitoring, retries and gpu pool are in force.
    assert instance.run_monitoring_enabled and instance.run_retries_enabled and instance.run_retries_max_retries == 1
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
