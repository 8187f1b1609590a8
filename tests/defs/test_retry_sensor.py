"""The retry sensor against a real instance and a real MLflow store: a failed training run's MLflow run left
RUNNING is ended, and the run is requested again once its pause has passed, under a run key that is never reused."""

from __future__ import annotations

import dagster as dg
from helpers import settings_for, tiny_definitions


def _evaluate(defs, instance):
    sensor = defs.resolve_sensor_def("retry_sensor")
    with dg.build_sensor_context(instance_ref=instance.get_ref(), definitions=defs, resources=defs.resources) as context:
        return sensor(context)


def test_a_failed_training_run_has_its_mlflow_run_ended_and_is_retried_when_due(tmp_path, instance, monkeypatch):
    settings = settings_for(tmp_path / "data")
    defs = tiny_definitions(settings)
    registry = defs.resources["mlflow"].registry()

    @dg.op
    def train():
        pass

    @dg.job(tags={"vision/pipeline": "training"})
    def train_and_register():
        train()

    failed = instance.create_run_for_job(train_and_register, status=dg.DagsterRunStatus.FAILURE,
                                         tags={"vision/pipeline": "training"})
    left_running = registry.client.create_run(registry.experiment_id(), tags={"dagster_run_id": failed.run_id})
    unrelated = registry.client.create_run(registry.experiment_id(), tags={"dagster_run_id": "another-run"})

    waiting = _evaluate(defs, instance)  # an ordinary failure: 5 minutes' pause first

    assert isinstance(waiting, dg.SkipReason) and "attempt 2 of 3 is due after" in waiting.skip_message
    ended = registry.client.get_run(left_running.info.run_id)
    assert ended.info.status == "FAILED" and failed.run_id in ended.data.tags["failure"]
    assert registry.client.get_run(unrelated.info.run_id).info.status == "RUNNING"

    monkeypatch.setenv("VISION_RETRY_PAUSE_SCALE", "0")
    result = _evaluate(defs, instance)

    [request] = result.run_requests
    assert (request.job_name, request.run_key) == ("train_and_register", f"retry:{failed.run_id}:1")
    assert request.tags["dagster/parent_run_id"] == failed.run_id and request.tags["vision/pipeline"] == "training"
