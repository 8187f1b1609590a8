"""Assembles the code location: assets, checks, sensors, schedules, jobs, resources and the executor."""

from __future__ import annotations

import os

import dagster as dg

from vision_assets.defs.datasets import dataset_split, retrain_sensor, training_job
from vision_assets.defs.evaluation import eval_report
from vision_assets.defs.frames import sampled_frames
from vision_assets.defs.hard_examples import (
    champion_mining_sensor,
    hard_examples,
    hard_examples_job,
    nightly_hard_examples,
)
from vision_assets.defs.ingest import ingest_job, landing_sensor, raw_videos
from vision_assets.defs.labels import annotations, import_labels_job, label_drop_sensor, qc_annotations
from vision_assets.defs.monitoring import drift_sensor, footage_monitoring
from vision_assets.defs.registry import nightly_retention, registered_model, retention_job
from vision_assets.defs.retries import carry_forward_job
from vision_assets.defs.retry_sensor import retry_sensor
from vision_assets.defs.training import trained_checkpoint
from vision_assets.defs.wiring import build_resources, project_metadata

CODE_LOCATION = "vision_assets"
ALL_ASSETS = [raw_videos, sampled_frames, annotations, qc_annotations, dataset_split, trained_checkpoint,
              eval_report, registered_model, hard_examples, footage_monitoring]

partition_automation = dg.AutomationConditionSensorDefinition(
    "partition_automation",
    target=dg.AssetSelection.assets(sampled_frames, annotations, qc_annotations),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Carries each new or updated scene x day partition through frames, labels and QC.",
)

monitoring_automation = dg.AutomationConditionSensorDefinition(
    "monitoring_automation",
    target=dg.AssetSelection.assets(footage_monitoring),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="The champion watches every new scene x day of frames, and every partition again when a new model "
                "is registered.",
)


# Every step pod unless its own op_tags say more (trained_checkpoint asks for a GPU node in defs/training.py).
CPU_STEP_POD = {"container_config": {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                                                   "limits": {"cpu": "2", "memory": "4Gi"}}}}
# dagster-k8s deep-merges resources, so the CPU limits above would cap the training step below its own requests.
STEP_POD_OVERRIDES = {"trained_checkpoint": {"container_config": {"resources": {"limits": {"cpu": "8", "memory": "32Gi"}}}}}
K8S_EXECUTOR_CONFIG = {"step_k8s_config": CPU_STEP_POD, "per_step_k8s_config": STEP_POD_OVERRIDES, "max_concurrent": 8}


def select_executor() -> dg.ExecutorDefinition:
    """Each step in its own pod (so the training step gets its GPU) only where Kubernetes runs the code."""
    if os.environ.get("VISION_EXECUTOR") == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(K8S_EXECUTOR_CONFIG, name="k8s")
    return dg.multiprocess_executor


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=ALL_ASSETS,
        jobs=[ingest_job, import_labels_job, training_job, hard_examples_job, retention_job, carry_forward_job],
        sensors=[landing_sensor, label_drop_sensor, retrain_sensor, partition_automation, champion_mining_sensor,
                 retry_sensor, monitoring_automation, drift_sensor],
        schedules=[nightly_hard_examples, nightly_retention],
        resources=resources or build_resources(),
        executor=select_executor(),
        metadata=project_metadata() if resources is None else {},
    )


defs = build_definitions()
