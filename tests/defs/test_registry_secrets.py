"""The tracking URI's password stays out of the resource config the UI shows, and out of every message."""

from __future__ import annotations

import dagster as dg

from vision_assets.core.registry import redact, redact_uri

URI = "https://vision:PLANTED-pw-31@mlflow.example.com/"


def test_a_tracking_uri_from_the_environment_is_config_by_name(monkeypatch, tmp_path):
    from vision_assets.defs.wiring import build_resources
    from vision_assets.settings import Settings

    monkeypatch.setenv("MLFLOW_TRACKING_URI", URI)
    settings = Settings.from_env({"VISION_DATA_DIR": str(tmp_path), "MLFLOW_TRACKING_URI": URI})
    resource = build_resources(settings)["mlflow"]
    assert isinstance(resource.tracking_uri, dg.EnvVar) and resource.tracking_uri.env_var_name == "MLFLOW_TRACKING_URI"
    assert "PLANTED" not in repr(resource._get_non_default_public_field_values())  # what the UI serialises
    assert resource.process_config_and_initialize().registry().tracking_uri == URI  # resolved where a run uses it


def test_redaction_masks_uri_credentials_and_known_secret_values():
    assert redact_uri("postgresql://ml:pw@db:5432/mlflow and " + URI) == \
        "postgresql://***@db:5432/mlflow and https://***@mlflow.example.com/"
    environ = {"MLFLOW_TRACKING_URI": URI, "AWS_SECRET_ACCESS_KEY": "AKIAsecretvalue"}
    assert redact("failed: PLANTED-pw-31 and AKIAsecretvalue at mlflow.example.com", environ) == \
        "failed: *** and *** at mlflow.example.com"
