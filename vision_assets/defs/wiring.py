"""Resources built from the environment (Settings) and the project file (vision.yaml, see project_config)."""

import os

import dagster as dg

from vision_assets.defs.io import LakeJsonIOManager
from vision_assets.defs.resources import (
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
    settings = settings or Settings.from_env()
    project = settings.project()
    policy = {"ingest": project.ingest, "sampling": project.sampling, "retention": project.retention}
    lake = LakeResource(root=settings.lake_root, landing_dir=str(settings.landing_dir), work_dir=str(settings.work_dir))
    return {
        "lake": lake,
        "mlflow": MlflowResource(tracking_uri=_tracking_uri(settings), artifact_root=settings.mlflow_artifact_root),
        "taxonomy": TaxonomyResource(class_names=project.class_names, aliases=project.aliases),
        "trainer": TrainerResource(**project.training),
        "retrain_policy": RetrainPolicyResource(**project.retrain),
        "promotion": PromotionPolicyResource(**project.promotion),
        "qc_policy": QcPolicyResource(**project.qc),
        "monitoring_policy": MonitoringPolicyResource(**project.monitoring),
        "project": ProjectFileResource(project_file=str(project.path or ""),
                                       sources={key: src for key, _, src in project.flat() if src != "default"}),
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
    return {"project_file": str(project.path) if project.path else f"none ({settings.project_file.name} absent: defaults)",
            "project_config": dg.MetadataValue.json(project.as_dict()),
            "project_config_sources": dg.MetadataValue.json({k: src for k, _, src in project.flat() if src != "default"})}


def _tracking_uri(settings: Settings):
    """From the environment by name when it is set there, so the UI's Resources page shows the variable, never a
    URI that may carry a password; the default SQLite file has none."""
    if os.environ.get("MLFLOW_TRACKING_URI") and os.environ["MLFLOW_TRACKING_URI"] == settings.mlflow_tracking_uri:
        return dg.EnvVar("MLFLOW_TRACKING_URI")
    return settings.mlflow_tracking_uri


def _sampling_policy(section: dict) -> SamplingPolicyResource:
    return SamplingPolicyResource(default=SceneSampling(**section.get("default", {})),
                                  scenes={name: SceneSampling(**spec) for name, spec in section.get("scenes", {}).items()})
