"""The code location's job snapshots name no data folder: loaded from any folder, or a copy of one, every job has the
same snapshot id (re-execution in the UI never warns "loaded version may be different"), and a run still works on
the folder of its own environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value
from helpers import dagster_webserver

# With a sweep file and a model to fine-tune from beside it: paths the project file resolves in the data folder.
PROJECT_FILE = """classes: [car, {name: pedestrian, aliases: [person]}]
training: {epochs: 3, model: start.pt, sweep_space: sweep.yaml}
qc: {min_pass_rate: 0.8}
"""
PLANTED_URI = "https://vision:PLANTED-pw-47@mlflow.example.com/"


def _project_folder(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True)
    (data_dir / "vision.yaml").write_text(PROJECT_FILE)
    (data_dir / "start.pt").write_bytes(b"weights")
    (data_dir / "sweep.yaml").write_text("lr0: {values: [0.01]}\n")
    return data_dir


def _load(monkeypatch, data_dir: Path):
    """The code location as `vision-assets ui` loads it: from the environment, not from test settings."""
    from vision_assets.definitions import build_definitions

    monkeypatch.setenv("VISION_DATA_DIR", str(data_dir))
    return build_definitions()


def _snapshots(defs) -> tuple[dict[str, str], str]:
    """Each job's snapshot id, and the whole serialized repository snapshot the UI stores (every job snapshot in it)."""
    repository = defs.get_repository_def()
    ids = {job.name: job.get_job_snapshot_id() for job in repository.get_all_jobs()}
    return ids, serialize_value(RepositorySnap.from_def(repository))


def test_every_job_snapshot_is_the_same_for_two_data_folders_and_a_copy(tmp_path, monkeypatch):
    first, second = tmp_path / "first" / "data", tmp_path / "elsewhere" / "data"
    _project_folder(first)
    copy = tmp_path / "copied" / "data"
    shutil.copytree(first, copy)
    second.mkdir(parents=True)  # no project file at all: the defaults

    ids, texts = {}, {}
    for folder in (first, copy, second):
        ids[folder], texts[folder] = _snapshots(_load(monkeypatch, folder))
    assert set(ids[first]) >= {"ingest_videos", "import_labels", "train_and_register", "mine_hard_examples",
                               "retention_job", "carry_forward", "__ASSET_JOB"}
    assert ids[copy] == ids[first]
    for folder, text in texts.items():
        for place in (first, copy, second, tmp_path):
            assert str(place) not in text, (folder, place)
    # Two unrelated folders without a project file (every value the default) agree too.
    assert _snapshots(_load(monkeypatch, tmp_path / "other" / "data"))[0] == ids[second]


def test_the_project_file_shows_in_the_data_folder_and_a_secret_uri_by_name(tmp_path, monkeypatch):
    data = _project_folder(tmp_path / "data")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", PLANTED_URI)
    defs = _load(monkeypatch, data)
    project = defs.resources["project"]
    assert project.project_file == "<data folder>/vision.yaml"
    assert project.sources["training.epochs"] == "<data folder>/vision.yaml"
    assert defs.metadata["project_file"].value == "<data folder>/vision.yaml"
    trainer = defs.resources["trainer"]
    assert (trainer.model, trainer.sweep_space) == ("<data folder>/start.pt", "<data folder>/sweep.yaml")
    # A run finds them in its own data folder.
    assert (trainer.config().model, trainer.sweep_file) == (str(data / "start.pt"), str(data / "sweep.yaml"))
    _, text = _snapshots(defs)
    assert "PLANTED" not in text and "MLFLOW_TRACKING_URI" in text  # the variable's name, never its value
    assert defs.resources["mlflow"].process_config_and_initialize().tracking == PLANTED_URI


def test_a_run_works_on_the_data_folder_of_its_environment(tmp_path, monkeypatch, tiny_landing, instance):
    """Definitions loaded on one folder, run on another (a moved folder re-executed): the run ingests into the
    folder its environment names, and nothing lands in the first."""
    from vision_assets.core.lake import Lake
    from vision_assets.settings import Settings

    loaded_on, runs_on = tmp_path / "loaded" / "data", tmp_path / "runs" / "data"
    defs = _load(monkeypatch, loaded_on)
    monkeypatch.setenv("VISION_DATA_DIR", str(runs_on))
    settings = Settings.from_env()
    settings.prepare()
    shutil.copytree(tiny_landing, settings.landing_dir, dirs_exist_ok=True)

    from vision_assets.local.daemon import LocalDaemon

    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    daemon.sensor_tick("landing_sensor")
    assert daemon.runs and all(r.success for r in daemon.runs), daemon.runs
    assert sorted(str(r.partition) for r in daemon.runs) == ["2026-11-18|cam-a", "2026-11-18|cam-b"]
    videos = Lake(settings.lake_root).read_tables("raw_videos")
    assert len(videos) == 4 and set(videos["scene"]) == {"cam-a", "cam-b"}
    assert not loaded_on.exists()


@pytest.mark.slow  # the real CLI ingests one camera-day, then the real webserver on the moved folder
def test_runs_of_a_moved_data_folder_match_the_loaded_job_snapshots(tmp_path, tiny_landing):
    """What the UI's Re-execute compares (useJobAvailabilityErrorForRun): each run's job snapshot id (a subset run's
    parent's) against the loaded code location's. Equal: no "loaded version may be different"."""
    from test_webserver import graphql

    original = tmp_path / "first" / "data"
    shutil.copytree(tiny_landing / "cam-a", original / "landing" / "cam-a")
    cli = Path(sys.executable).with_name("vision-assets")
    env = {**os.environ, "VISION_DATA_DIR": str(original)}
    env.pop("DAGSTER_HOME", None)
    subprocess.run([str(cli), "ingest"], env=env, cwd=tmp_path, check=True, capture_output=True, timeout=600)
    moved = tmp_path / "second" / "data"
    shutil.move(original, moved)

    with dagster_webserver(moved / "dagster_home", moved, tmp_path / "webserver.log") as url:
        runs = graphql(url, "{ runsOrError { ... on Runs { results { runId pipelineName pipelineSnapshotId "
                            "parentPipelineSnapshotId } } } }")["runsOrError"]["results"]
        assert {run["pipelineName"] for run in runs} == {"ingest_videos", "__ASSET_JOB"}  # ingest, frames, labels, QC
        loaded = {}
        for name in {run["pipelineName"] for run in runs}:
            job = graphql(url, f'{{ pipelineOrError(params: {{pipelineName: "{name}", repositoryName: "__repository__", '
                               'repositoryLocationName: "vision_assets"}) { ... on Pipeline { pipelineSnapshotId } } }')
            loaded[name] = job["pipelineOrError"]["pipelineSnapshotId"]
    for run in runs:
        assert (run["parentPipelineSnapshotId"] or run["pipelineSnapshotId"]) == loaded[run["pipelineName"]], run
