"""What every command starts from: the data folder prepared, and the lake, registry and daemon it points at."""

from __future__ import annotations

import os
import shutil

from vision_assets.settings import PROJECT_ROOT, Settings


def prepare_environment() -> Settings:
    """Point Dagster and third-party libraries at the data folder before anything imports them."""
    settings = Settings.from_env()
    settings.prepare()
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    instance_yaml, template = settings.dagster_home / "dagster.yaml", PROJECT_ROOT / "dagster.yaml"
    if not instance_yaml.exists() and template.exists():
        shutil.copyfile(template, instance_yaml)  # without one, Dagster's own default is SQLite here too
    return settings


# The factories below import lazily: `sample` and `qc` never need Dagster or MLflow, and start faster without them.
def in_process_daemon(quiet: bool = False):
    """The sensors, schedules and automation of the real definitions, run in this process on this instance."""
    import dagster as dg

    from vision_assets.definitions import defs
    from vision_assets.local.daemon import LocalDaemon

    return LocalDaemon(defs, dg.DagsterInstance.get(), log=(lambda _: None) if quiet else print)


def open_lake(settings: Settings):
    from vision_assets.core.lake import Lake

    return Lake(settings.lake_root)


def open_registry(settings: Settings):
    from vision_assets.core.registry import ModelRegistry

    return ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
