"""trained_checkpoint with a sweep space: a 2x2 grid trains four trials as child MLflow runs, ranks them by val
fitness in the UI's Markdown table, and the best becomes the checkpoint; the same sweep again trains nothing."""

from __future__ import annotations

import dagster as dg
import pytest
from training_helpers import FAST, tiny_dataset, tiny_lake, tiny_registry

from vision_assets.core.lake import keys
from vision_assets.defs.datasets import dataset_split
from vision_assets.defs.io import LakeJsonIOManager
from vision_assets.defs.resources import LakeResource, MlflowResource, TaxonomyResource, TrainerResource
from vision_assets.defs.training import trained_checkpoint

SPACE = """\
method: grid
max_trials: 4
base: {epochs: 1}
space:
  lr0: [0.001, 0.01]
  batch: [4, 8]
"""


def _materialize(tmp_path, space_file):
    lake = LakeResource(root=str(tmp_path / "lake"), landing_dir=str(tmp_path / "landing"), work_dir=str(tmp_path / "work"))
    registry = tiny_registry(tmp_path)
    resources = {
        "lake": lake, "io_manager": LakeJsonIOManager(lake=lake),
        "mlflow": MlflowResource(tracking_uri=registry.tracking_uri, artifact_root=registry.artifact_root),
        "trainer": TrainerResource(**{**FAST, "epochs": 3}), "taxonomy": TaxonomyResource(),
    }
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([dataset_split, trained_checkpoint], selection=[trained_checkpoint], resources=resources,
                            instance=instance, run_config={
        "ops": {"trained_checkpoint": {"config": {"sweep_space": str(space_file)}}}})
    assert result.success
    [materialization] = result.asset_materializations_for_node("trained_checkpoint")
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    return result.output_for_node("trained_checkpoint"), materialization.metadata, registry, messages


@pytest.mark.slow
def test_a_grid_sweep_ranks_its_trials_the_best_becomes_the_checkpoint_and_a_rerun_trains_nothing(tmp_path):
    store = tiny_lake(tmp_path)
    dataset = tiny_dataset(store)
    store.write_json("assets/dataset_split.json", dataset.to_json())  # what dataset_split's IO manager would have stored
    space_file = tmp_path / "space.yaml"
    space_file.write_text(SPACE)

    record, metadata, registry, messages = _materialize(tmp_path, space_file)
    progress = [m for m in messages if m.startswith("trial ") and " epoch 1: box_loss " in m]
    assert len(progress) == 4 and all("val mAP50-95 0." in m and "ETA" in m for m in progress)

    summary = store.read_json(keys.sweep_record_key(record.sweep_id))
    assert summary["trained"] == 4 and summary["reused"] == 0
    trials = summary["trials"]
    assert sorted((t["params"]["lr0"], t["params"]["batch"]) for t in trials) == [(0.001, 4), (0.001, 8), (0.01, 4), (0.01, 8)]
    fitness = [t["val_fitness"] for t in trials]
    assert fitness == sorted(fitness, reverse=True)  # ranked, best first
    assert record.fingerprint == trials[0]["fingerprint"] == summary["best_fingerprint"]
    assert record.config["epochs"] == 1 and record.val_fitness == trials[0]["val_fitness"]
    assert {record.config["lr0"], record.config["batch"]} == {trials[0]["params"]["lr0"], trials[0]["params"]["batch"]}
    table = metadata["sweep_ranking"].value
    assert table.count("| trained |") == 4 and table.splitlines()[2].startswith(f"| 1 | {trials[0]['trial']} |")
    for trial in trials:
        run = registry.client.get_run(trial["mlflow_run_id"])
        assert run.data.tags["mlflow.parentRunId"] == summary["mlflow_run_id"]
        assert run.data.params["lr0"] == str(trial["params"]["lr0"])

    again, metadata_again, _, _ = _materialize(tmp_path, space_file)
    second = store.read_json(keys.sweep_record_key(again.sweep_id))
    assert second["trained"] == 0 and second["reused"] == 4
    assert again.checkpoint_sha256 == record.checkpoint_sha256 and metadata_again["reused_existing"].value is True
