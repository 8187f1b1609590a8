"""A pull is audited before anything is delivered: a lake that cannot take the audit row fails the pull first."""

from __future__ import annotations

import os
import subprocess

import pytest
from helpers import run_cli_in_process, settings_for
from test_cli_errors import one_line_error
from test_cli_video import run_cli


@pytest.fixture
def registered(tmp_path):
    """A data folder whose registry holds v1 with a verified package (no training: a package is its files)."""
    from vision_assets.core.registry import DEFAULT_MODEL_NAME, ModelRegistry
    from vision_assets.core.registry.package import MANIFEST_TAG, PACKAGE_ARTIFACT, log_package, write_manifest

    settings = settings_for(tmp_path / "data")
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    package = tmp_path / "package"
    package.mkdir()
    (package / "weights.bin").write_bytes(b"weights")
    manifest = write_manifest(package)
    with registry.run("train", {}) as run_id:
        log_package(registry, run_id, package)
    registry.register(DEFAULT_MODEL_NAME, run_id, PACKAGE_ARTIFACT, {MANIFEST_TAG: manifest})
    registry.promote(DEFAULT_MODEL_NAME, "1")
    return settings


@pytest.fixture
def read_only(registered):
    """The lake made unwritable for real: immutable for root (chattr), without write permission otherwise."""
    lake = registered.data_dir / "lake"
    (lake / "tables").mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "-R", "+i", str(lake)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"chattr: {made.stderr.decode().strip()}")
        yield lake
        subprocess.run(["chattr", "-R", "-i", str(lake)], check=True)
    else:
        for folder in (lake, lake / "tables"):
            folder.chmod(0o555)
        yield lake
        for folder in (lake, lake / "tables"):
            folder.chmod(0o755)


def test_a_read_only_lake_refuses_the_pull_before_delivering(read_only, registered, tmp_path):
    out = tmp_path / "delivered"

    result = run_cli("pull", "--out", str(out), data_dir=registered.data_dir)  # the real command, in its own process

    one_line_error(result, "v1", "not pulled", "audit trail", "nothing was delivered")
    assert not out.exists() or not any(out.iterdir())


def test_a_pull_is_audited_and_delivered(registered, tmp_path):
    from vision_assets.core.lake import Lake
    from vision_assets.core.registry import read_audit

    result = run_cli_in_process("pull", "--out", str(tmp_path / "delivered"), "--reason", "edge rollout",
                                data_dir=registered.data_dir)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "delivered" / "weights.bin").read_bytes() == b"weights"
    [event] = read_audit(Lake(registered.lake_root)).to_dict("records")
    assert (event["action"], event["object"], event["reason"]) == ("pull", "vision_assets_detector v1", "edge rollout")


def test_pulling_a_tainted_version_names_the_taint_on_screen_and_in_the_audit(registered, tmp_path):
    from vision_assets.core.lake import Lake
    from vision_assets.core.registry import DEFAULT_MODEL_NAME, ModelRegistry, read_audit

    registry = ModelRegistry(registered.mlflow_tracking_uri, registered.mlflow_artifact_root)
    registry.client.set_model_version_tag(DEFAULT_MODEL_NAME, "1", "tainted", "video abc forget: erasure #7")

    result = run_cli_in_process("pull", "1", "--out", str(tmp_path / "delivered"), data_dir=registered.data_dir)

    assert result.returncode == 0, result.stderr
    assert "v1 is tainted: video abc forget: erasure #7" in result.stderr
    [event] = read_audit(Lake(registered.lake_root)).to_dict("records")
    assert "tainted: video abc forget: erasure #7" in event["details"]
