"""The code location loads, with the contract's nine asset keys, and its specs match the reviewed snapshot."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from helpers import REPO_ROOT

from vision_assets.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_specs.json"
PARTITIONED = {"raw_videos", "sampled_frames", "annotations", "qc_annotations", "hard_examples", "footage_monitoring"}
UNPARTITIONED = {"dataset_split", "trained_checkpoint", "eval_report", "registered_model"}


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_the_nine_asset_keys_and_their_partitions():
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    assert set(specs) == PARTITIONED | UNPARTITIONED
    for key in PARTITIONED:
        partitions = specs[key].partitions_def
        assert isinstance(partitions, dg.DynamicPartitionsDefinition), key
        assert partitions.name == "scene_days", key  # one key per scene-day with footage, not a cross product
    for key in UNPARTITIONED:
        assert specs[key].partitions_def is None, key


def spec_snapshot() -> dict:
    out = {}
    for spec in sorted(defs.resolve_all_asset_specs(), key=lambda s: s.key.to_user_string()):
        op = defs.resolve_assets_def(spec.key).op
        out[spec.key.to_user_string()] = {
            "deps": sorted(d.asset_key.to_user_string() for d in spec.deps),
            "group": spec.group_name,
            "kinds": sorted(spec.kinds),
            "owners": list(spec.owners),
            "code_version": spec.code_version,
            "partitions": type(spec.partitions_def).__name__ if spec.partitions_def else None,
            "automation": spec.automation_condition.get_label() if spec.automation_condition else None,
            "pool": op.pool,
            "op_tags": json.loads(json.dumps(dict(op.tags), sort_keys=True)),
            "has_description": bool(spec.description),
        }
    checks = {}
    for assets_def in defs.resolve_asset_graph().assets_defs:
        for check in assets_def.check_specs:
            checks[check.key.to_user_string()] = {"blocking": check.blocking}
    return {"assets": out, "checks": checks,
            "sensors": sorted(s.name for s in defs.sensors), "schedules": sorted(s.name for s in defs.schedules),
            "jobs": sorted(j.name for j in defs.jobs)}


def test_asset_specs_match_snapshot():
    """Catches drift in keys, deps, kinds, owners, automation, pools and checks.
    After a reviewed change, refresh with UPDATE_SNAPSHOTS=1."""
    current = spec_snapshot()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert SNAPSHOT.exists(), f"{SNAPSHOT} missing: create it with UPDATE_SNAPSHOTS=1 and review it"
    assert current == json.loads(SNAPSHOT.read_text())


def test_training_step_asks_kubernetes_for_a_gpu_and_runs_in_the_gpu_pool():
    from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

    training = defs.resolve_assets_def("trained_checkpoint")
    assert training.op.pool == "gpu"
    job = construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(job_image="vision-assets:test", dagster_home="/opt/dagster/dagster_home",
                                       instance_config_map="dagster-instance"),
        args=["dagster", "api", "execute_step"],
        job_name="train-step",
        user_defined_k8s_config=get_user_defined_k8s_config(training.op.tags),
    )
    pod = job.spec.template.spec
    assert pod.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    assert pod.node_selector == {"nvidia.com/gpu.present": "true"}
    assert pod.tolerations[0].key == "nvidia.com/gpu"


def test_k8s_executor_is_selected_by_environment(monkeypatch):
    from vision_assets.definitions import select_executor

    monkeypatch.setenv("VISION_EXECUTOR", "k8s")
    assert select_executor().name == "k8s"
    monkeypatch.delenv("VISION_EXECUTOR")
    assert select_executor().name == "multiprocess"


def test_instance_template_limits_the_gpu_pool_to_one(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        instance = dg.DagsterInstance.get()
        try:
            assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
            assert str(instance.run_storage._conn_string).startswith("sqlite:")  # noqa: SLF001
        finally:
            instance.dispose()
