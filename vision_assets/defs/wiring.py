"""Resources built from the environment (Settings) and the project file (vision.yaml, see project_config)."""

import os
from pathlib import Path

import dagster as dg

from vision_assets.defs.io import LakeJsonIOManager
from vision_assets.defs.resources import (
    DATA_FOLDER,
    IngestPolicyResource,
    LakeResource,
    MlflowResource,
    MonitoringPolicyResource,
    ProjectFileResource,
    PromotionPolicyResource,
    QcPolicyResource,
    RetentionPolicyResource,
    RetrainPolicyResource,
    SamplingPolicyResource,
    SceneSampling,
    TaxonomyResource,
    TrainerResource,
)
from vision_assets.settings import Settings


def build_resources(settings: Settings | None = None) -> dict[str, object]:
    """The code location's resources. Without settings, the lake, landing, work and MLflow places are left empty:
    each run reads them from its own environment (resources.py), so the job snapshot is the same for every data
    folder. With settings (tests, benchmarks: a folder that is not the environment's), they are fixed to them."""
    from_environment = settings is None
    settings = settings or Settings.from_env()
    project = settings.project()
    policy = {"ingest": project.ingest, "sampling": project.sampling, "retention": project.retention}
    lake = LakeResource() if from_environment else \
        LakeResource(root=settings.lake_root, landing_dir=str(settings.landing_dir), work_dir=str(settings.work_dir))
    mlflow = MlflowResource(tracking_uri=_tracking_uri(settings, from_environment),
                            artifact_root="" if from_environment else settings.mlflow_artifact_root)
    sources = {key: _in_data_folder(src, settings.data_dir) for key, _, src in project.flat() if src != "default"}
    return {
        "lake": lake,
        "mlflow": mlflow,
        "taxonomy": TaxonomyResource(class_names=project.class_names, aliases=project.aliases),
        "trainer": TrainerResource(**(_trainer_files_in_data_folder(project.training, settings.data_dir)
                                      if from_environment else project.training)),
        "retrain_policy": RetrainPolicyResource(**project.retrain),
        "promotion": PromotionPolicyResource(**project.promotion),
        "qc_policy": QcPolicyResource(**project.qc),
        "monitoring_policy": MonitoringPolicyResource(**project.monitoring),
        "project": ProjectFileResource(project_file=_in_data_folder(project.path or "", settings.data_dir),
                                       sources=sources),
        "ingest_policy": IngestPolicyResource(**policy.get("ingest", {})),
        "sampling": _sampling_policy(policy.get("sampling", {})),
        "retention": RetentionPolicyResource(**policy.get("retention", {})),
        "io_manager": LakeJsonIOManager(lake=lake),
    }


def project_metadata(settings: Settings | None = None) -> dict:
    """The effective project configuration and where each value came from, recorded with the code location's
    definitions (the UI shows the values on its Resources page: the `project` resource and the others)."""
    settings = settings or Settings.from_env()
    project = settings.project()
    where = _in_data_folder(project.path, settings.data_dir) if project.path else \
        f"none ({settings.project_file.name} absent: defaults)"
    sources = {key: _in_data_folder(src, settings.data_dir) for key, _, src in project.flat() if src != "default"}
    config = project.as_dict()
    config["training"] = _trainer_files_in_data_folder(config.get("training", {}), settings.data_dir)
    return {"project_file": where, "project_config": dg.MetadataValue.json(config),
            "project_config_sources": dg.MetadataValue.json(sources)}


def _tracking_uri(settings: Settings, from_environment: bool):
    """From the environment by name when it is set there, so the UI's Resources page shows the variable, never a
    URI that may carry a password; else the run's own default (SQLite under its data folder, no password) or the
    settings' URI."""
    if os.environ.get("MLFLOW_TRACKING_URI") and os.environ["MLFLOW_TRACKING_URI"] == settings.mlflow_tracking_uri:
        return dg.EnvVar("MLFLOW_TRACKING_URI")
    return "" if from_environment else settings.mlflow_tracking_uri


def _in_data_folder(path: Path | str, data_dir: Path) -> str:
    """A path in the data folder as `<data folder>/...` (the same for every copy of the folder); others as they are
    (an environment variable's name, a file outside the folder)."""
    try:
        return str(Path(DATA_FOLDER) / Path(path).relative_to(data_dir))
    except ValueError:
        return str(path)


def _trainer_files_in_data_folder(training: dict, data_dir: Path) -> dict:
    """A model .pt or sweep file beside a vision.yaml in the data folder, named `<data folder>/...`: the trainer
    finds it in the run's own folder (TrainerResource.config, sweep_file)."""
    named = {key: _in_data_folder(training[key], data_dir) for key in ("model", "sweep_space") if training.get(key)}
    return {**training, **named}


def _sampling_policy(section: dict) -> SamplingPolicyResource:
    return SamplingPolicyResource(default=SceneSampling(**section.get("default", {})),
                                  scenes={name: SceneSampling(**spec) for name, spec in section.get("scenes", {}).items()})
