"""The retrain sensor's online breaches (defs/datasets.py new_online_breaches): the champion's scene-days below a
monitoring floor that no retrain was requested for. The registry (MLflow: seconds to import and open in a fresh
process) is asked only when a footage_monitoring row breaches a floor with no retrain requested for it yet."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest
from helpers import settings_for, tiny_definitions
from registry_helpers import register, registry_of

from vision_assets.core.lake import Lake
from vision_assets.core.lake import keys as lake_keys
from vision_assets.core.monitoring.online import breach_id
from vision_assets.core.registry import DEFAULT_MODEL_NAME, RegistryUnavailable
from vision_assets.defs.datasets import ONLINE_BREACHES_TAG, new_online_breaches
from vision_assets.defs.resources import LakeResource, MlflowResource, MonitoringPolicyResource

DAY = "2026-11-19"


def _row(scene: str, version: str, precision: float, recall: float) -> dict:
    return {"scene": scene, "day": DAY, "champion_version": version, "online_precision": precision,
            "online_recall": recall, "online_detections": 20, "online_labelled_boxes": 20,
            "online_label_version": f"labels-{scene}"}


def _monitor(lake: Lake, *rows: dict) -> None:
    for row in rows:
        lake.write_table(lake_keys.FOOTAGE_MONITORING, pd.DataFrame([row]), {"scene": row["scene"], "day": DAY})


def _breaches(instance, lake: Lake, mlflow: MlflowResource) -> list[dict]:
    with dg.build_sensor_context(instance=instance) as context:
        return new_online_breaches(context, LakeResource(root=str(lake.root)), MonitoringPolicyResource(), mlflow)


def _request_retrain_for(instance, defs, breaches: list[str]) -> None:
    run = instance.create_run_for_job(defs.resolve_job_def("train_and_register"),
                                      tags={ONLINE_BREACHES_TAG: ",".join(breaches)})
    instance.report_run_canceled(run)


def test_rows_without_a_new_breach_never_ask_the_registry(tmp_path, instance, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    settings = settings_for(tmp_path / "data")
    lake = Lake(settings.lake_root)
    unreachable = MlflowResource(tracking_uri="http://127.0.0.1:9", artifact_root=str(tmp_path / "artifacts"))
    healthy, breached = _row("cam-a", "1", 0.9, 0.8), _row("cam-b", "1", 0.9, 0.1)
    _monitor(lake, healthy, breached)
    _request_retrain_for(instance, tiny_definitions(settings),
                         [breach_id({**breached, "label_version": breached["online_label_version"]})])

    assert _breaches(instance, lake, unreachable) == []  # nothing new: the registry is not asked

    _monitor(lake, _row("cam-c", "1", 0.2, 0.9))  # a breach no retrain was requested for: whose champion is it?
    with pytest.raises(RegistryUnavailable):
        _breaches(instance, lake, unreachable)


def test_only_the_champions_unrequested_breaches_ask_for_a_retrain(tmp_path, instance, monkeypatch):
    settings = settings_for(tmp_path / "data")
    registry = registry_of(settings)
    register(registry, tmp_path, 1)
    champion = register(registry, tmp_path, 2)
    registry.set_alias(DEFAULT_MODEL_NAME, "champion", champion.version)
    mlflow = MlflowResource(tracking_uri=settings.mlflow_tracking_uri, artifact_root=settings.mlflow_artifact_root)
    lake = Lake(settings.lake_root)
    _monitor(lake, _row("cam-a", "1", 0.1, 0.1),  # measured against the earlier version: not the champion's
             _row("cam-b", str(champion.version), 0.9, 0.2), _row("cam-c", str(champion.version), 0.3, 0.9),
             _row("cam-d", str(champion.version), 0.9, 0.9))

    found = _breaches(instance, lake, mlflow)
    assert [(b["scene"], b["champion_version"], b["reasons"]) for b in found] == [
        ("cam-b", str(champion.version), ["online recall 0.200 < 0.5 (20 labelled boxes)"]),
        ("cam-c", str(champion.version), ["online precision 0.300 < 0.5 (20 detections)"])]

    _request_retrain_for(instance, tiny_definitions(settings), [breach_id(found[0])])
    assert [b["scene"] for b in _breaches(instance, lake, mlflow)] == ["cam-c"]
