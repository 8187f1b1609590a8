"""The Kubernetes deployment without a cluster: the Helm values set what production needs, and the pod that
dagster-k8s builds for each step kind (from those values, the executor and the assets' own op_tags) is a
valid Kubernetes object with the right size and placement and no secret value in it.

The pods are built by dagster-k8s itself (K8sRunLauncher, K8sContainerContext, construct_dagster_k8s_job), merged
in the order its step handler merges them; only the cluster is missing."""

from __future__ import annotations

import json
import re

import dagster as dg
import kubernetes
import kubernetes_validate
import pytest
import yaml
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.execution.api import create_execution_plan
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.test_utils import create_run_for_test
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.executor import k8s_job_executor
from dagster_k8s.job import UserDefinedDagsterK8sConfig, construct_dagster_k8s_job, get_user_defined_k8s_config
from helpers import REPO_ROOT, settings_for

VALUES = REPO_ROOT / "deploy" / "helm" / "values.yaml"
K8S_VERSION = "1.33.0"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY", re.IGNORECASE)
RELEASE, NAMESPACE, IMAGE = "dagster", "vision", "registry.example.com/vision-assets:0.1.0"


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def deployment(values: dict) -> dict:
    (only,) = values["dagster-user-deployments"]["deployments"]
    return only


def test_values_select_the_production_parts(values):
    user = deployment(values)
    env = {item["name"]: item.get("value") for item in user["env"]}
    assert env["VISION_EXECUTOR"] == "k8s"
    assert env["VISION_LAKE_ROOT"].startswith("s3://")
    assert env["MLFLOW_TRACKING_URI"].startswith("http")
    assert user["dagsterApiGrpcArgs"] == ["-m", "vision_assets.definitions"]
    assert user["includeConfigInLaunchedRuns"]["enabled"] is True
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["computeLogManager"]["type"] == "S3ComputeLogManager"
    assert values["computeLogManager"]["config"]["s3ComputeLogManager"]["bucket"]
    assert values["postgresql"]["postgresqlHost"] and values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"] and values["dagsterDaemon"]["runRetries"]["enabled"]
    assert values["concurrency"]["pools"] == {"defaultLimit": 1, "granularity": "op"}


def test_values_name_secrets_and_never_hold_one(values):
    assert [s["name"] for s in deployment(values)["envSecrets"]] == ["vision-assets-aws", "vision-assets-mlflow"]
    assert {s["name"] for s in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]} == {
        "vision-assets-aws", "vision-assets-mlflow"}

    def walk(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, dict) and "name" in value and "value" in value:
                    yield f"{path}[{value['name']}]", value["value"]
                else:
                    yield from walk(value, f"{path}[{index}]")
        else:
            yield path, node

    inline = [path for path, value in walk(values) if SECRET_NAME.search(path.rsplit(".", 1)[-1])
              and "secretname" not in path.lower() and not isinstance(value, bool)]
    assert inline == []


# -- the pods dagster-k8s builds --------------------------------------------------------------------------------
def launcher_from_values(values: dict, tmp_path) -> K8sRunLauncher:
    """The K8sRunLauncher the chart's instance ConfigMap configures from these values (its _run-launcher.tpl)."""
    config = values["runLauncher"]["config"]["k8sRunLauncher"]
    run_k8s = config.get("runK8sConfig", {})
    kubeconfig = tmp_path / "kubeconfig"  # the launcher loads one; nothing connects to it
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        "users": [{"name": "test", "user": {}}]}))
    return K8sRunLauncher(
        service_account_name=f"{RELEASE}", instance_config_map=f"{RELEASE}-instance",
        postgres_password_secret=values["global"]["postgresqlSecretName"], dagster_home="/opt/dagster/dagster_home",
        image_pull_policy=config["imagePullPolicy"], load_incluster_config=False, kubeconfig_file=str(kubeconfig),
        job_namespace=NAMESPACE, env_secrets=[s["name"] for s in config.get("envSecrets", [])],
        run_k8s_config={"container_config": run_k8s.get("containerConfig", {}),
                        "pod_spec_config": run_k8s.get("podSpecConfig", {})})


def deployment_container_context(values: dict) -> dict:
    """What includeConfigInLaunchedRuns hands the runs: the user deployment's env, secrets, volumes and size."""
    user = deployment(values)
    return {"k8s": {"env": user["env"], "env_secrets": [s["name"] for s in user["envSecrets"]],
                    "env_config_maps": [f"{RELEASE}-{user['name']}-user-env"], "volumes": user["volumes"],
                    "volume_mounts": user["volumeMounts"], "namespace": NAMESPACE, "resources": user["resources"],
                    "image_pull_policy": user["image"]["pullPolicy"]}}


@pytest.fixture(scope="module")
def k8s_defs(tmp_path_factory):
    settings = settings_for(tmp_path_factory.mktemp("k8s") / "data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VISION_EXECUTOR", "k8s")
        from vision_assets.definitions import build_definitions
        from vision_assets.defs.wiring import build_resources

        yield build_definitions(build_resources(settings))


def step_job(values, tmp_path, instance, defs, job_name: str, step_key: str) -> dict:
    """The Kubernetes Job dagster-k8s' step handler would create for one step (K8sStepHandler.launch_step)."""
    from vision_assets.definitions import K8S_EXECUTOR_CONFIG

    job = defs.resolve_job_def(job_name) if job_name != "__ASSET_JOB" else defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "k8s"
    # The executor's own config schema accepts what the definitions configure.
    assert dg.validate_run_config(job, {}) is not None
    step = next(s for s in create_execution_plan(job).steps if s.key == step_key)

    launcher = launcher_from_values(values, tmp_path)
    origin = JobPythonOrigin(job.name, RepositoryPythonOrigin(
        executable_path="/usr/local/bin/python", code_pointer=ModuleCodePointer("vision_assets.definitions", "defs", None),
        container_image=IMAGE, container_context=deployment_container_context(values)))
    run = create_run_for_test(instance, job_name=job.name, job_code_origin=origin)

    executor = K8sContainerContext(
        namespace=NAMESPACE, run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(K8S_EXECUTOR_CONFIG["step_k8s_config"]))
    per_op = K8S_EXECUTOR_CONFIG["per_step_k8s_config"].get(step.op_name, {})
    context = (K8sContainerContext.create_for_run(run, launcher, include_run_tags=False)
               .merge(executor)
               .merge(K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(step.tags)))
               .merge(K8sContainerContext(run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(per_op))))
    k8s_job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(IMAGE, launcher), args=["dagster", "api", "execute_step"],
        job_name=f"dagster-step-{step_key.replace('_', '-')}", component="step_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": job.name, "dagster/op": step_key, "dagster/run-id": run.run_id},
        env_vars=[{"name": "DAGSTER_RUN_JOB_NAME", "value": job.name}, {"name": "DAGSTER_RUN_STEP_KEY", "value": step_key}])
    return kubernetes.client.ApiClient().sanitize_for_serialization(k8s_job)


def quantity(text: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    return float(match.group(1)) * units.get(match.group(2), 1)


STEPS = [("ingest_videos", "raw_videos"), ("__ASSET_JOB", "sampled_frames"), ("__ASSET_JOB", "qc_annotations"),
         ("train_and_register", "trained_checkpoint"), ("train_and_register", "eval_report"),
         ("mine_hard_examples", "hard_examples")]


@pytest.mark.parametrize("job_name, step_key", STEPS)
def test_each_step_pod_is_a_valid_kubernetes_job_sized_for_its_step(values, tmp_path, instance, k8s_defs,
                                                                   job_name, step_key):
    manifest = step_job(values, tmp_path, instance, k8s_defs, job_name, step_key)

    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    resources = container["resources"]
    for kind in ("cpu", "memory"):  # Kubernetes refuses a pod whose request exceeds its limit
        assert quantity(resources["requests"][kind]) <= quantity(resources["limits"][kind]), kind
    env = {item["name"]: item for item in container["env"]}
    assert env["VISION_EXECUTOR"]["value"] == "k8s"
    assert {ref["secretRef"]["name"] for ref in container["envFrom"] if "secretRef" in ref} == {
        "vision-assets-aws", "vision-assets-mlflow"}
    assert env["DAGSTER_PG_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "dagster-postgresql-secret"
    assert [name for name, item in env.items() if SECRET_NAME.search(name) and "value" in item] == []
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/config", "/landing"}

    if step_key == "trained_checkpoint":
        assert resources["limits"]["nvidia.com/gpu"] == "1"
        assert quantity(resources["requests"]["memory"]) >= 16 * 2**30
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    else:
        assert "nvidia.com/gpu" not in resources.get("limits", {})
        assert "nodeSelector" not in pod and "tolerations" not in pod
        assert quantity(resources["requests"]["cpu"]) <= 1 and quantity(resources["limits"]["memory"]) <= 4 * 2**30


def test_the_k8s_executor_config_is_valid_for_dagster_k8s():
    from dagster._config import process_config

    from vision_assets.definitions import K8S_EXECUTOR_CONFIG

    result = process_config(k8s_job_executor.config_schema.config_type, K8S_EXECUTOR_CONFIG)
    assert result.success, result.errors
    processed = json.loads(json.dumps(result.value["step_k8s_config"]))
    assert processed["container_config"] == K8S_EXECUTOR_CONFIG["step_k8s_config"]["container_config"]
    assert result.value["per_step_k8s_config"].keys() == {"trained_checkpoint"}
