"""Where everything lives, from environment variables with embedded defaults under one data folder."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vision_assets.core.input_files import InputLimits
from vision_assets.project_config import (
    CONFIG_ENV,
    ENV_OVERRIDES,
    ProjectConfig,
    load_project_config,
    project_file_path,
)


def _project_root() -> Path:
    """The checkout when running from one; the working directory for an installed package (e.g. in an image)."""
    checkout = Path(__file__).resolve().parents[1]
    return checkout if (checkout / "pyproject.toml").exists() else Path.cwd()


PROJECT_ROOT = _project_root()


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    dagster_home: Path
    lake_root: str
    landing_dir: Path
    mlflow_tracking_uri: str
    mlflow_artifact_root: str
    work_dir: Path
    device: str
    epochs: int
    imgsz: int
    video_policy: Path | None = None  # YAML with per-scene sampling and ingest options
    # Largest video / sidecar or label file, deepest JSON read from the landing zone (VISION_MAX_FILE_BYTES,
    # VISION_MAX_LABEL_BYTES, VISION_MAX_JSON_DEPTH). Readers take them from the environment (InputLimits.from_env),
    # so sensors, run workers and the CLI agree; this field shows what they are.
    input_limits: InputLimits = InputLimits()
    # The project file (vision.yaml in the data folder, or VISION_CONFIG) and the environment's one-run overrides
    # of it (VISION_EPOCHS, VISION_IMGSZ, VISION_DEVICE): see vision_assets/project_config.py.
    project_file: Path | None = None
    project_file_named: bool = False  # VISION_CONFIG names it: then it must exist
    overrides: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("VISION_DATA_DIR") or PROJECT_ROOT / ".data").resolve()
        mlflow_dir = data_dir / "mlflow"
        return cls(
            data_dir=data_dir,
            dagster_home=Path(env.get("DAGSTER_HOME") or data_dir / "dagster_home").resolve(),
            lake_root=env.get("VISION_LAKE_ROOT") or str(data_dir / "lake"),
            landing_dir=Path(env.get("VISION_LANDING_DIR") or data_dir / "landing").resolve(),
            mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{mlflow_dir / 'mlflow.db'}",
            mlflow_artifact_root=env.get("VISION_MLFLOW_ARTIFACTS") or (mlflow_dir / "artifacts").as_uri(),
            work_dir=Path(env.get("VISION_WORK_DIR") or data_dir / "work").resolve(),
            device=env.get("VISION_DEVICE", "auto"),
            epochs=int(env.get("VISION_EPOCHS", "20")),
            imgsz=int(env.get("VISION_IMGSZ", "256")),
            video_policy=Path(env["VISION_VIDEO_POLICY"]).resolve() if env.get("VISION_VIDEO_POLICY") else None,
            input_limits=InputLimits.from_env(env),
            project_file=project_file_path(env, data_dir),
            project_file_named=bool(env.get(CONFIG_ENV)),
            overrides={name: env[name] for name in ENV_OVERRIDES if env.get(name)},
        )

    def project(self) -> ProjectConfig:
        """The effective project configuration: the project file checked, with the environment's overrides."""
        return load_project_config(self.project_file, self.overrides, self.video_policy, required=self.project_file_named)

    def prepare(self) -> None:
        """Create local folders and keep third-party libraries from writing into the working directory."""
        for path in (self.data_dir, self.dagster_home, self.landing_dir, self.work_dir):
            path.mkdir(parents=True, exist_ok=True)
        if self.mlflow_tracking_uri.startswith("sqlite:///"):
            Path(self.mlflow_tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if "://" not in self.lake_root:
            Path(self.lake_root).mkdir(parents=True, exist_ok=True)
        from vision_assets.core.training.environment import configure_third_party  # subprocess, random: not for --help

        configure_third_party(self.work_dir)
