"""Resources: where the lake, landing zone and MLflow are, how footage is ingested and sampled, how training runs.

`defs/wiring.py` builds them from the environment's Settings. A place left empty (the code location's default) is
the run's environment's (Settings.from_env: VISION_DATA_DIR and the variables it documents), read when a run uses
it: the job snapshot then names no data folder, so a copied or moved data folder re-executes its old runs without
"loaded version may be different"."""


from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from vision_assets.core.ingest.thresholds import NEAR_DUPLICATE_DISTANCE
from vision_assets.core.labels.schema import DEFAULT_TAXONOMY
from vision_assets.core.registry.mlflow_registry import DEFAULT_MODEL_NAME, ModelRegistry
from vision_assets.core.training.yolo import TrainConfig

# The lake (fsspec, pandas) and the ingest options (PyAV) are imported where they are used: loading the code
# location should cost little more than importing dagster.
if TYPE_CHECKING:
    from vision_assets.core.ingest import IngestOptions
    from vision_assets.core.lake import Lake

_TRAIN_DEFAULTS = TrainConfig()


DATA_FOLDER = "<data folder>"  # how a resource names a file in the data folder: the run's own, found at run time


def in_run_data_folder(value: str) -> str:
    """A `<data folder>/...` path as the file in the run environment's data folder; any other value as it is."""
    if not value.startswith(f"{DATA_FOLDER}/"):
        return value
    from vision_assets.settings import Settings

    return str(Settings.from_env().data_dir / value.removeprefix(f"{DATA_FOLDER}/"))


def _or_environment(value: str, setting: str) -> str:
    """The configured place, or (left empty) the run environment's Settings value of that name."""
    if value:
        return value
    from vision_assets.settings import Settings

    return str(getattr(Settings.from_env(), setting))


class LakeResource(dg.ConfigurableResource):
    """The lake root (local folder or s3://...), the landing zone and a local scratch folder; each left empty is the
    run environment's (VISION_LAKE_ROOT, VISION_LANDING_DIR, VISION_WORK_DIR, else under VISION_DATA_DIR)."""

    root: str = Field("", description="empty: the run's VISION_LAKE_ROOT, else <data folder>/lake")
    landing_dir: str = Field("", description="empty: the run's VISION_LANDING_DIR, else <data folder>/landing")
    work_dir: str = Field("", description="empty: the run's VISION_WORK_DIR, else <data folder>/work")

    def lake(self) -> "Lake":
        from vision_assets.core.lake import Lake

        return Lake(self.lake_root)

    @property
    def lake_root(self) -> str:
        return _or_environment(self.root, "lake_root")

    @property
    def landing(self) -> Path:
        return Path(_or_environment(self.landing_dir, "landing_dir"))

    @property
    def work(self) -> Path:
        path = Path(_or_environment(self.work_dir, "work_dir"))
        path.mkdir(parents=True, exist_ok=True)
        return path


class IngestPolicyResource(dg.ConfigurableResource):
    """How raw_videos ingests: optional transcoding to one standard format, near-duplicate sensitivity."""

    normalise: bool = False
    normalise_codec: str = "h264"
    normalise_fps: float | None = None
    normalise_max_height: int | None = None
    near_duplicate_distance: float = NEAR_DUPLICATE_DISTANCE

    def options(self) -> "IngestOptions":
        from vision_assets.core.ingest import IngestOptions
        from vision_assets.core.video import NormaliseSpec

        spec = NormaliseSpec(enabled=self.normalise, codec=self.normalise_codec, fps=self.normalise_fps,
                             max_height=self.normalise_max_height)
        return IngestOptions(normalise=spec, near_duplicate_distance=self.near_duplicate_distance)


class SceneSampling(dg.Config):
    """How one scene's videos become frames: a strategy by name with its parameters, and privacy blurring."""

    strategy: str = "fixed_interval"
    params: dict[str, Any] = {}  # empty: the strategy's own defaults
    near_duplicate_distance: int = 4
    blur_faces: bool = False
    blur_plates: bool = False


class SamplingPolicyResource(dg.ConfigurableResource):
    """The default sampling, and per-scene overrides (e.g. motion sampling on a quiet car park, blurring on a
    street camera)."""

    default: SceneSampling = SceneSampling(params={"every_seconds": 0.5})
    scenes: dict[str, SceneSampling] = {}

    def for_scene(self, scene: str) -> SceneSampling:
        """The scene's override on top of the default: what it does not set, it inherits (parameters only when it
        keeps the default's strategy, since they belong to that strategy)."""
        override = self.scenes.get(scene)
        if override is None:
            return self.default
        changes = {name: getattr(override, name) for name in override.model_fields_set}
        if changes.get("strategy", self.default.strategy) != self.default.strategy and "params" not in changes:
            changes["params"] = {}
        return self.default.model_copy(update=changes)


class MlflowResource(dg.ConfigurableResource):
    """The tracking server and artifact store; each left empty is the run environment's (MLFLOW_TRACKING_URI,
    VISION_MLFLOW_ARTIFACTS, else the SQLite store and artifacts under VISION_DATA_DIR/mlflow)."""

    tracking_uri: str = Field("", description="empty: the run's MLFLOW_TRACKING_URI, else <data folder>/mlflow/mlflow.db")
    artifact_root: str = Field("", description="empty: the run's VISION_MLFLOW_ARTIFACTS, else "
                                               "<data folder>/mlflow/artifacts")
    experiment: str = "vision_assets"
    model_name: str = DEFAULT_MODEL_NAME

    @property
    def tracking(self) -> str:
        """The tracking URI this run uses."""
        return _or_environment(self.tracking_uri, "mlflow_tracking_uri")

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.tracking, _or_environment(self.artifact_root, "mlflow_artifact_root"),
                             self.experiment)


class RetentionPolicyResource(dg.ConfigurableResource):
    """How long footage is kept, per scene (days since its day partition); unset: forever. The nightly retention
    schedule forgets what is older (vision-assets forget, audited as retention_delete)."""

    default_days: int | None = None
    scenes: dict[str, int] = {}


class TaxonomyResource(dg.ConfigurableResource):
    """The classes the platform detects (the project file's `classes`); labels with other classes are rejected by
    QC. aliases maps a class name other tools use (COCO's `person`) to one of them, applied on import."""

    class_names: list[str] = list(DEFAULT_TAXONOMY)  # a real deployment sets its own in vision.yaml
    aliases: dict[str, str] = {}


class RetrainPolicyResource(dg.ConfigurableResource):
    """When the retrain sensor starts a new dataset version and training run."""

    min_new_labels: int = 200


class MonitoringPolicyResource(dg.ConfigurableResource):
    """The project file's `monitoring`: the floors of the champion's online precision and recall on returned labels
    (footage_monitoring's check online_accuracy_above_floor; below one the retrain sensor starts a retrain), each
    judged on at least min_online_boxes boxes."""

    min_online_precision: float = 0.5
    min_online_recall: float = 0.5
    min_online_boxes: int = 10


class ProjectFileResource(dg.ConfigurableResource):
    """Which project file (vision.yaml) the other resources were built from and where each value that is not a
    default came from (the file, or an environment variable for this run): shown on the UI's Resources page, as
    `vision-assets config` prints it. A file in the data folder is named `<data folder>/...` (DATA_FOLDER), so the
    job snapshot names no data folder."""

    project_file: str = ""  # empty: none, every value is the default
    sources: dict[str, str] = {}


class PromotionPolicyResource(dg.ConfigurableResource):
    """The project file's `promotion`: the evaluation floor (min_map50: below it, not registered), the champion
    floor (min_map50_95: below it, registered but never champion, the first model too) and the gate's margins.
    registered_model's run config overrides them for one run."""

    min_map50_95: float = 0.0
    min_map50: float = 0.0
    margin: float = 0.0
    slice_tolerance: float = 0.05
    tracking_tolerance: float = 0.05
    min_boxes: int = 20


class QcPolicyResource(dg.ConfigurableResource):
    """The project file's `qc`: the pass rate a partition needs and the rules' thresholds. qc_annotations' run
    config overrides them for one run."""

    min_pass_rate: float = 0.9
    min_agreement: float = 0.8
    duplicate_iou: float = 0.9
    max_gap_frames: float = 5.0
    max_jump: float = 0.5
    review_share: float = 0.05


class TrainerResource(dg.ConfigurableResource):
    """How trained_checkpoint trains; defaults are TrainConfig's (see its comments). sweep_space names a sweep
    (a model .pt or sweep file in the data folder is named `<data folder>/...`, found in the run's own folder);
    YAML (README "Training"): then trained_checkpoint is the best of its trials by val fitness."""

    model: str = _TRAIN_DEFAULTS.model
    epochs: int = _TRAIN_DEFAULTS.epochs
    imgsz: int = _TRAIN_DEFAULTS.imgsz
    batch: int = _TRAIN_DEFAULTS.batch
    seed: int = _TRAIN_DEFAULTS.seed
    device: str = _TRAIN_DEFAULTS.device
    workers: int = _TRAIN_DEFAULTS.workers
    optimizer: str = _TRAIN_DEFAULTS.optimizer
    lr0: float = _TRAIN_DEFAULTS.lr0
    patience: int = _TRAIN_DEFAULTS.patience
    val_every: int = _TRAIN_DEFAULTS.val_every
    mosaic: float = _TRAIN_DEFAULTS.mosaic
    close_mosaic: int = _TRAIN_DEFAULTS.close_mosaic
    mixup: float = _TRAIN_DEFAULTS.mixup
    hsv_h: float = _TRAIN_DEFAULTS.hsv_h
    hsv_s: float = _TRAIN_DEFAULTS.hsv_s
    hsv_v: float = _TRAIN_DEFAULTS.hsv_v
    fliplr: float = _TRAIN_DEFAULTS.fliplr
    flipud: float = _TRAIN_DEFAULTS.flipud
    scale: float = _TRAIN_DEFAULTS.scale
    amp: bool | None = _TRAIN_DEFAULTS.amp
    sweep_space: str = ""

    def config(self) -> TrainConfig:
        values = {name: getattr(self, name) for name in TrainConfig().as_dict()}
        return TrainConfig.from_dict({**values, "model": in_run_data_folder(self.model)})

    @property
    def sweep_file(self) -> str:
        return in_run_data_folder(self.sweep_space)
