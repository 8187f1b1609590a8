"""A data folder's real MLflow registry (SQLite) with stand-in versions, for the registry and delivery command tests:
what they exercise is the aliases, tags and audit around the versions, not the weights."""

from __future__ import annotations

from pathlib import Path

from vision_assets.core.registry import DEFAULT_MODEL_NAME, ModelRegistry


def prepared_data_folder(tmp_path: Path, monkeypatch, user: str | None = None):
    """Settings of a fresh data folder under tmp_path, the environment pointing at it (and at `user`, if given)."""
    monkeypatch.setenv("VISION_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if user:
        monkeypatch.setenv("VISION_USER", user)
    from vision_assets.settings import Settings

    settings = Settings.from_env()
    settings.prepare()
    return settings


def registry_of(settings) -> ModelRegistry:
    return ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)


def register(registry: ModelRegistry, tmp_path: Path, n: int, **tags):
    """Version n of the default model: a run with a stand-in weights file, checkpoint_sha256 n."""
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights %d" % n)
    with registry.run(f"train-{n}", {}) as run_id:
        registry.log_artifact(run_id, weights, "weights")
    return registry.register(DEFAULT_MODEL_NAME, run_id, "weights", {"checkpoint_sha256": f"{n:064d}", **tags})
