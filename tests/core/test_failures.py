"""The kind of a failure, read from the errors real failures raise, decides how often and how soon it is retried."""

from __future__ import annotations

import sqlite3

import pytest

from vision_assets.core.failures import (
    FAILED,
    INTERRUPTED,
    POLICIES,
    UNREACHABLE,
    WORKER_DIED,
    failure_kind,
)


def _error(exception: BaseException) -> tuple[str, str]:
    return type(exception).__name__, str(exception)


def _locked_database_error(tmp_path) -> BaseException:
    holder = sqlite3.connect(tmp_path / "mlflow.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        sqlite3.connect(tmp_path / "mlflow.db", timeout=0).execute("CREATE TABLE runs (id TEXT)")
    except sqlite3.OperationalError as error:
        return error
    finally:
        holder.execute("ROLLBACK")
    pytest.fail("the exclusive lock did not block a writer")


def _unreachable_endpoint_error() -> BaseException:
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url="http://127.0.0.1:9", aws_access_key_id="x", aws_secret_access_key="x",
                          region_name="us-east-1", config=Config(retries={"max_attempts": 1}, connect_timeout=2))
    try:
        client.list_buckets()
    except Exception as error:  # noqa: BLE001 - whatever botocore raises for a closed port
        return error
    pytest.fail("a closed port answered")


def test_services_away_are_unreachable(tmp_path):
    assert failure_kind([_error(_locked_database_error(tmp_path))]) == UNREACHABLE
    assert failure_kind([_error(_unreachable_endpoint_error())]) == UNREACHABLE
    # a step error wraps the cause: the chain is read as a whole
    assert failure_kind([("DagsterExecutionStepExecutionError", 'Error occurred while executing op "annotations":'),
                         _error(_unreachable_endpoint_error())]) == UNREACHABLE


def test_interrupts_lost_workers_and_the_rest():
    assert failure_kind([_error(KeyboardInterrupt())]) == INTERRUPTED
    assert failure_kind([("DagsterExecutionInterruptedError", "Execution was interrupted unexpectedly.")]) == INTERRUPTED
    assert failure_kind([("", "Run timed out due to taking longer than 300 seconds to start.")]) == WORKER_DIED
    killed = ("[DagsterApiServer] Run execution process for 272e81fb was terminated by signal {} ({}). This usually "
              "indicates that the process was killed by the operating system due to running out of memory.")
    assert failure_kind([("", killed.format(9, "SIGKILL"))]) == WORKER_DIED
    assert failure_kind([("", killed.format(15, "SIGTERM"))]) == INTERRUPTED
    assert failure_kind([_error(ValueError("annotations.json: box 3 has x2 < x1"))]) == FAILED
    assert failure_kind([]) == FAILED


def test_pauses_double_up_to_their_ceiling_and_scale_to_zero(monkeypatch):
    unreachable = POLICIES[UNREACHABLE]
    assert [unreachable.pause_before(n) for n in range(2, 10)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert POLICIES[WORKER_DIED].pause_before(2) == 0
    monkeypatch.setenv("VISION_RETRY_PAUSE_SCALE", "0")
    assert unreachable.pause_before(5) == 0
