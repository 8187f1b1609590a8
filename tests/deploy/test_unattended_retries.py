"""Work is never stranded by a service that goes away: the object store dropping while frames, labels and QC run
fails those runs as `unreachable`; the pass says when they will be tried again, and the next pass (or the retry
sensor under `make ui`) finishes the work once the endpoint is back. The drop is a real cut TCP link in front of a
real S3 server."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest
from helpers import settings_for, tiny_definitions
from servers import SwitchableLink, s3_server

LAKE = "s3://lake/retries-test"  # moto keeps one store per process: a prefix of this test's own
CARRIED = ("sampled_frames", "annotations", "qc_annotations")


@pytest.fixture
def cuttable_s3(monkeypatch):
    with s3_server("lake") as server:
        link = SwitchableLink(int(server.endpoint.rsplit(":", 1)[1]))
        for name, value in {**server.env(), "AWS_ENDPOINT_URL": link.url}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries would only slow the drop down
        try:
            yield link
        finally:
            link.close()


def test_runs_failed_by_an_object_store_drop_are_retried_by_the_next_pass(cuttable_s3, tmp_path, instance,
                                                                          tiny_landing, monkeypatch):
    from vision_assets.local.daemon import LocalDaemon

    settings = settings_for(tmp_path / "data", VISION_LAKE_ROOT=LAKE)
    shutil.copytree(tiny_landing, settings.landing_dir, dirs_exist_ok=True)
    defs = tiny_definitions(settings)
    first = LocalDaemon(defs, instance, log=lambda _: None)
    cursor = first.automation_cursor()
    first.sensor_tick("landing_sensor")
    assert [r.success for r in first.runs] == [True, True]  # both partitions ingested while the link is up

    cuttable_s3.set_cut(True)
    first.automation_until_quiet(cursor)

    failed = [r for r in first.runs if not r.success]
    assert failed and all(dg.AssetKey("sampled_frames").to_user_string() in r.assets or "annotations" in r.assets
                          for r in failed)
    missing = first.unfinished()
    assert {instance.get_run_by_id(r.run_id).tags["vision/failure"] for r in failed} == {"unreachable"}
    assert all("attempt 2 of 8 is due after" in line for line in missing if line.startswith("run ")), missing
    assert any(line.startswith("qc_annotations: 2 partition(s) not materialized") for line in missing), missing

    cuttable_s3.set_cut(False)
    monkeypatch.setenv("VISION_RETRY_PAUSE_SCALE", "0")  # the pause has passed
    second = LocalDaemon(defs, instance, log=lambda _: None)
    retried = second.recover()
    second.automation_until_quiet(second.automation_cursor())

    assert retried and all(r.success for r in retried), retried
    for run in retried:
        tags = instance.get_run_by_id(run.run_id).tags
        assert tags["dagster/sensor_name"] == "retry_sensor" and tags["dagster/retry_number"] == "1"
        assert tags["dagster/parent_run_id"] in {r.run_id for r in failed}
    for key in CARRIED:
        assert len(instance.get_materialized_partitions(dg.AssetKey(key))) == 2, key
    assert second.unfinished() == []
    third = LocalDaemon(defs, instance, log=lambda _: None)
    assert third.recover() == []  # nothing retried twice
