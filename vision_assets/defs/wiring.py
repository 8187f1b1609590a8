"""Resources built from the environment (Settings) and the deployment's video policy file."""

import os
from pathlib import Path

import dagster as dg
import yaml

from vision_assets.defs.io import LakeJsonIOManager
from vision_assets.defs.resources import (
    IngestPolicyResource,
    LakeResource,
    MlflowResource,
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
    policy = load_video_policy(settings.video_policy)
    lake = LakeResource(root=settings.lake_root, landing_dir=str(settings.landing_dir), work_dir=str(settings.work_dir))
    return {
        "lake": lake,
        "mlflow": MlflowResource(tracking_uri=_tracking_uri(settings), artifact_root=settings.mlflow_artifact_root),
        "taxonomy": TaxonomyResource(),
        "trainer": TrainerResource(device=settings.device, epochs=settings.epochs, imgsz=settings.imgsz),
        "retrain_policy": RetrainPolicyResource(),
        "ingest_policy": IngestPolicyResource(**policy.get("ingest", {})),
        "sampling": _sampling_policy(policy.get("sampling", {})),
        "retention": RetentionPolicyResource(**policy.get("retention", {})),
        "io_manager": LakeJsonIOManager(lake=lake),
    }


def _tracking_uri(settings: Settings):
    """From the environment by name when it is set there, so the UI's Resources page shows the variable, never a
    URI that may carry a password; the default SQLite file has none."""
    if os.environ.get("MLFLOW_TRACKING_URI") and os.environ["MLFLOW_TRACKING_URI"] == settings.mlflow_tracking_uri:
        return dg.EnvVar("MLFLOW_TRACKING_URI")
    return settings.mlflow_tracking_uri


def load_video_policy(path: Path | None) -> dict:
    """The deployment's ingest and sampling policy (VISION_VIDEO_POLICY, a YAML file); empty means defaults."""
    if path is None:
        return {}
    try:
        policy = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read the video policy: {error}") from error
    if not isinstance(policy, dict) or set(policy) - {"ingest", "sampling", "retention"}:
        got = sorted(policy) if isinstance(policy, dict) else type(policy).__name__
        raise ValueError(f"{path}: a video policy has the keys 'ingest', 'sampling' and 'retention' only, got {got}")
    return policy


def _sampling_policy(section: dict) -> SamplingPolicyResource:
    return SamplingPolicyResource(default=SceneSampling(**section.get("default", {})),
                                  scenes={name: SceneSampling(**spec) for name, spec in section.get("scenes", {}).items()})
