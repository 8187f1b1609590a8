"""Past one machine, with real servers on loopback started by the tests: the lake on S3 (moto's standalone
server; endpoint and credentials from the standard AWS variables) and MLflow as `mlflow server` with its
artifacts in the same S3 server. The whole chain trains and registers through them; a person promotes and rolls
back; the champion is pulled and verified byte for byte; OpenCV and Ultralytics read local copies cached by
content, so reading again downloads nothing."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pandas as pd
import pytest
from helpers import run_once, settings_for, tiny_definitions
from servers import mlflow_server, s3_server

LAKE = "s3://lake/vision"
ARTIFACTS = "s3://mlflow/artifacts"


@pytest.fixture
def s3(monkeypatch):
    with s3_server("lake", "mlflow") as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield server


def test_local_copy_downloads_once_and_again_only_when_the_object_changed(s3, tmp_path):
    from vision_assets.core.lake import Lake

    root = "s3://lake/local-copy-test"  # moto keeps one store per process: a prefix of this test's own
    lake = Lake(root)
    digest, key, written = lake.put_blob_bytes("frames", b"jpeg bytes", ".jpg")
    assert written and s3.keys("lake", "local-copy-test/") == [f"local-copy-test/{key}"]
    first = lake.local_copy(key, tmp_path / "cache")
    assert first.read_bytes() == b"jpeg bytes" and first.name == f"{digest}.jpg"
    assert Lake(root).local_copy(key, tmp_path / "cache") == first
    lake.write_bytes("datasets/latest.json", b'{"version": "a"}')
    assert lake.local_copy("datasets/latest.json", tmp_path / "cache").read_bytes() == b'{"version": "a"}'
    assert lake.local_copy("datasets/latest.json", tmp_path / "cache").read_bytes() == b'{"version": "a"}'
    assert lake.downloads == 2
    lake.write_bytes("datasets/latest.json", b'{"version": "b"}')
    assert lake.local_copy("datasets/latest.json", tmp_path / "cache").read_bytes() == b'{"version": "b"}'
    assert lake.downloads == 3


def cached_files(work_dir):
    return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in work_dir.rglob("*")
            if p.is_file() and "runs" not in p.relative_to(work_dir).parts}


@pytest.mark.slow  # the whole graph, training included
def test_whole_chain_on_s3_with_an_mlflow_server(s3, tmp_path, instance, tiny_landing, monkeypatch, capsys):
    from vision_assets import cli
    from vision_assets.core.lake import Lake
    from vision_assets.core.registry import DEFAULT_MODEL_NAME, ModelRegistry
    from vision_assets.core.registry.package import pull_package
    from vision_assets.defs.frames import sampled_frames
    from vision_assets.local.daemon import LocalDaemon

    assert s3.keys("lake", "vision/") == []
    with mlflow_server(f"sqlite:///{tmp_path / 'server.db'}", ARTIFACTS, s3.env(), tmp_path / "mlflow.log") as url:
        env = {"VISION_LAKE_ROOT": LAKE, "MLFLOW_TRACKING_URI": url, "VISION_MLFLOW_ARTIFACTS": ARTIFACTS}
        settings = settings_for(tmp_path / "data", **env)
        shutil.copytree(tiny_landing, settings.landing_dir, dirs_exist_ok=True)
        defs = tiny_definitions(settings)

        daemon = run_once(defs, instance)

        assert daemon.runs and all(r.success for r in daemon.runs), [r for r in daemon.runs if not r.success]
        for key in ("raw_videos", "sampled_frames", "annotations", "qc_annotations", "hard_examples"):
            assert len(instance.get_materialized_partitions(dg.AssetKey(key))) == 2, key
        # Nothing went to the local defaults: the lake and MLflow's artifacts are in the S3 server.
        assert not (settings.data_dir / "lake").exists() and not (settings.data_dir / "mlflow").exists()
        stored = s3.keys("lake", "vision/")
        for prefix in ("blobs/videos/", "blobs/frames/", "blobs/checkpoints/", "tables/raw_videos/",
                       "tables/qc_annotations/", "tables/dataset_manifest/", "checkpoints/", "tables/hard_examples/"):
            assert any(key.startswith(f"vision/{prefix}") for key in stored), prefix
        lake = Lake(LAKE)
        registry = ModelRegistry(url, settings.mlflow_artifact_root)
        champion = registry.champion(DEFAULT_MODEL_NAME)
        assert champion is not None and str(champion.version) == "1"
        assert registry.client.get_run(champion.run_id).info.artifact_uri.startswith(f"{ARTIFACTS}/")
        assert any(key.endswith("/model/MLmodel") for key in s3.keys("mlflow", "artifacts/"))
        manifest = pd.read_parquet(lake.uri(champion.tags["dataset_manifest"]))
        landed = set(lake.read_tables("raw_videos")["video_sha256"])
        assert set(manifest["video_sha256"]) == landed and len(landed) == 4

        # The lineage audit and the summary read the same S3 lake and MLflow server.
        for name, value in {**env, "VISION_DATA_DIR": str(settings.data_dir),
                            "DAGSTER_HOME": str(settings.dagster_home)}.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        assert cli.main(["lineage", "--json", "--verify"]) == 0
        audit = json.loads(capsys.readouterr().out)
        assert {v["video_sha256"] for v in audit["videos"]} == landed

        # Promotion by hand and rollback through the server, then the champion pulled from S3 and verified.
        second = registry.register(DEFAULT_MODEL_NAME, champion.run_id, "model", dict(champion.tags))
        registry.promote(DEFAULT_MODEL_NAME, second.version)
        assert str(registry.champion(DEFAULT_MODEL_NAME).version) == str(second.version)
        assert registry.rollback(DEFAULT_MODEL_NAME) == "1"
        pulled = pull_package(registry, DEFAULT_MODEL_NAME, None, tmp_path / "pulled", settings.work_dir)
        assert pulled["version"] == "1" and pulled["files"] > 0 and (tmp_path / "pulled" / "MLmodel").exists()

        # Sampling a partition again reads its videos from the local cache: no file in it is fetched again.
        before = cached_files(settings.work_dir)
        assert any(name.endswith(".mp4") for name in before)
        again = LocalDaemon(defs, instance, log=lambda _: None).execute(
            "__ASSET_JOB", "2026-11-18|cam-a", assets=[sampled_frames.key])
        assert again.success
        assert cached_files(settings.work_dir) == before
