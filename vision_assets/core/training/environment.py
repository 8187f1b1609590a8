"""The training environment: device, code identity, and Ultralytics kept inside our work folder."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import numpy as np

from vision_assets import __version__

# The checkout this code runs from (absent in an installed image: then the commit is "unknown").
SOURCE_ROOT = Path(__file__).resolve().parents[3]

# Ultralytics integrations that would log elsewhere or phone home; MLflow logging is ours.
_DISABLED_INTEGRATIONS = ("mlflow", "clearml", "comet", "dvc", "neptune", "raytune", "tensorboard", "wandb", "hub", "sync")


def configure_third_party(work_dir: Path) -> None:
    # Ultralytics reads these at import time: no downloads, and its settings file outside the repo.
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(work_dir / "ultralytics_config"))
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


def resolve_device(requested: str = "auto") -> str:
    if requested and requested != "auto":
        return requested
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(SOURCE_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(SOURCE_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def code_version() -> str:
    return f"vision_assets=={__version__}"


def ultralytics_yolo(work_dir: Path):
    configure_third_party(work_dir)
    from ultralytics import YOLO
    from ultralytics.utils import SETTINGS

    wanted = {name: False for name in _DISABLED_INTEGRATIONS if name in SETTINGS}
    wanted.update(runs_dir=str(work_dir / "runs"), weights_dir=str(work_dir / "weights"),
                  datasets_dir=str(work_dir / "datasets"))
    if any(SETTINGS.get(k) != v for k, v in wanted.items()):
        SETTINGS.update(wanted)
    return YOLO


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
