"""The champion alias moved in the MLflow UI or API (around the gate and `vision-assets promote`) is flagged by the
consistency check and written to the audit table, once."""

from __future__ import annotations

from vision_assets.core.lake import Lake, keys
from vision_assets.core.registry import ModelRegistry, read_audit, record_event
from vision_assets.core.registry.consistency import alias_problems


def test_an_alias_moved_outside_promote_is_flagged_and_audited_once(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    registry = ModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri())
    for n in range(2):
        weights = tmp_path / f"best{n}.pt"
        weights.write_bytes(f"weights {n}".encode())
        sha, _, _ = lake.put_blob_file(keys.CHECKPOINT_BLOBS, weights, ".pt")
        with registry.run(f"train-{n}", {}) as run_id:
            registry.log_artifact(run_id, weights, "weights")
        registry.register("det", run_id, "weights", {"checkpoint_sha256": sha})
    registry.promote("det", "1")
    record_event(lake, "promote", "det v1", "gate passed")  # what the gate or `vision-assets promote` records
    assert alias_problems(registry, lake, "det", tmp_path / "work")[1] == []

    registry.client.set_registered_model_alias("det", "champion", "2")  # MLflow UI's "Promote model"
    aliases, problems = alias_problems(registry, lake, "det", tmp_path / "work")
    assert aliases["champion"] == "2"
    assert problems == ["@champion -> v2: moved outside vision-assets (the audit trail last gave it to v1); "
                        "`vision-assets promote 2 --reason ...` records it, or `vision-assets promote 1` puts it back"]
    assert alias_problems(registry, lake, "det", tmp_path / "work")[1] == problems  # still flagged ...
    moved = read_audit(lake).query("action == 'alias_moved_outside'")
    assert moved[["object", "actor"]].values.tolist() == [["det v2", "registry_consistent"]]  # ... audited once

    record_event(lake, "gate_override", "det v2", "accepted after review")
    assert alias_problems(registry, lake, "det", tmp_path / "work")[1] == []
