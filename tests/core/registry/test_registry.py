"""Champion and rollback against a real MLflow (SQLite file)."""

from __future__ import annotations

import pytest

from vision_assets.core.registry import ModelRegistry


@pytest.fixture
def registry(tmp_path):
    registry = ModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri())
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    for n in range(3):
        with registry.run(f"train-{n}", {"n": str(n)}) as run_id:
            registry.log_artifact(run_id, weights, "weights")
        registry.register("det", run_id, "weights", {"checkpoint_sha256": f"sha{n}", "map50_95": str(0.1 * n)})
    return registry


def test_promote_then_rollback_restores_the_previous_champion(registry, tmp_path):
    assert registry.champion("det") is None
    registry.promote("det", "1")
    registry.promote("det", "3")
    assert str(registry.champion("det").version) == "3"

    assert registry.rollback("det") == "1"

    assert str(registry.champion("det").version) == "1"
    assert registry.client.get_model_version("det", "3").tags["rolled_back"] == "true"
    with pytest.raises(LookupError, match="nothing to roll back to"):
        registry.rollback("det")


def test_versions_are_found_by_tag_and_weights_download(registry, tmp_path):
    assert str(registry.find_version("det", "checkpoint_sha256", "sha1").version) == "2"
    assert registry.find_version("det", "checkpoint_sha256", "nope") is None
    downloaded = registry.download("det", "2", tmp_path / "dl")
    assert (downloaded / "best.pt").read_bytes() == b"weights"
