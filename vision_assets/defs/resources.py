"""Resources: where the lake, landing zone and MLflow are, and how training runs. Built from Settings."""


from pathlib import Path

import dagster as dg

from vision_assets.core.demo_data import DEMO_CLASSES
from vision_assets.core.lake import Lake
from vision_assets.core.registry import ModelRegistry
from vision_assets.core.settings import Settings
from vision_assets.core.training import TrainConfig

# The demo footage's classes; a real deployment sets its own taxonomy here.
DEFAULT_CLASSES = list(DEMO_CLASSES)
_TRAIN_DEFAULTS = TrainConfig()


class LakeResource(dg.ConfigurableResource):
    """The lake root (local folder or s3://...), the landing zone and a local scratch folder."""

    root: str
    landing_dir: str
    work_dir: str

    def lake(self) -> Lake:
        return Lake(self.root)

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)

    @property
    def work(self) -> Path:
        path = Path(self.work_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path


class MlflowResource(dg.ConfigurableResource):
    tracking_uri: str
    artifact_root: str
    experiment: str = "vision_assets"
    model_name: str = "vision_assets_detector"

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.tracking_uri, self.artifact_root, self.experiment)


class TaxonomyResource(dg.ConfigurableResource):
    """The classes the platform detects; labels with other classes are rejected by QC."""

    class_names: list[str] = DEFAULT_CLASSES


class RetrainPolicyResource(dg.ConfigurableResource):
    """When the retrain sensor starts a new dataset version and training run."""

    min_new_labels: int = 200


class TrainerResource(dg.ConfigurableResource):
    """How trained_checkpoint trains; defaults are TrainConfig's."""

    model: str = _TRAIN_DEFAULTS.model
    epochs: int = _TRAIN_DEFAULTS.epochs
    imgsz: int = _TRAIN_DEFAULTS.imgsz
    batch: int = _TRAIN_DEFAULTS.batch
    seed: int = _TRAIN_DEFAULTS.seed
    device: str = _TRAIN_DEFAULTS.device
    workers: int = _TRAIN_DEFAULTS.workers

    def config(self) -> TrainConfig:
        return TrainConfig(model=self.model, epochs=self.epochs, imgsz=self.imgsz, batch=self.batch,
                           seed=self.seed, device=self.device, workers=self.workers)


def build_resources(settings: Settings | None = None) -> dict[str, object]:
    from vision_assets.defs.io import LakeJsonIOManager

    settings = settings or Settings.from_env()
    lake = LakeResource(root=settings.lake_root, landing_dir=str(settings.landing_dir), work_dir=str(settings.work_dir))
    return {
        "lake": lake,
        "mlflow": MlflowResource(tracking_uri=settings.mlflow_tracking_uri, artifact_root=settings.mlflow_artifact_root),
        "taxonomy": TaxonomyResource(),
        "trainer": TrainerResource(device=settings.device, epochs=settings.epochs, imgsz=settings.imgsz),
        "retrain_policy": RetrainPolicyResource(),
        "io_manager": LakeJsonIOManager(lake=lake),
    }
