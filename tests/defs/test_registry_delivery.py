"""Delivery end to end on one tiny pipeline run: the gate's table on the version, a pyfunc that loads from the
registry in a fresh process, the verified pull, lineage verified to the byte, forgetting a video, and no secret
anywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from helpers import run_once, settings_for, tiny_definitions

pytestmark = pytest.mark.slow  # the whole graph, training and ONNX export included

MODEL = "vision_assets_detector"
SECRET = "PLANTED-secret-5521"


def flip_byte(path: Path, offset: int = 200) -> bytes:
    original = path.read_bytes()
    changed = bytearray(original)
    changed[min(offset, len(changed) - 1)] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(changed))
    return original


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    from vision_assets import cli

    capsys.readouterr()
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_delivery_gate_package_lineage_forget_and_secrets(tmp_path, instance, tiny_landing, monkeypatch, capsys):
    from vision_assets.core.lake import Lake
    from vision_assets.core.registry import ModelRegistry, read_audit

    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)  # a credential in the environment: never written anywhere
    monkeypatch.setenv("VISION_USER", "dpo-dana")
    settings = settings_for(tmp_path / "data")
    shutil.copytree(tiny_landing, settings.landing_dir, dirs_exist_ok=True)
    defs = tiny_definitions(settings)
    daemon = run_once(defs, instance)
    assert daemon.runs and all(r.success for r in daemon.runs), [r for r in daemon.runs if not r.success]
    monkeypatch.setenv("VISION_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))
    registry, lake = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root), Lake(settings.lake_root)

    # The version is a package with its manifest, its gate decision and both checks.
    v1 = registry.champion(MODEL)
    assert str(v1.version) == "1" and v1.tags["gate"] == "pass" and len(v1.tags["package_manifest_sha256"]) == 64
    assert float(v1.tags["onnx_max_box_diff_px"]) <= 0.05
    event = instance.get_latest_materialization_event(dg.AssetKey("registered_model"))
    metadata = event.asset_materialization.metadata
    assert "promoted: first model" in metadata["decision_table"].value
    assert "| promote | dpo-dana |" in metadata["audit_recent"].value
    checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("registered_model"), name) for name in ("evaluation_floor", "registry_consistent")])
    assert {k.name: c.status.value for k, c in checks.items()} == {"evaluation_floor": "SUCCEEDED",
                                                                   "registry_consistent": "SUCCEEDED"}

    # pyfunc from the registry in a fresh process, outside the repository.
    frame_key = lake.read_table("dataset_manifest", {"version": v1.tags["dataset_version"]})["image_path"].iloc[0]
    script = (
        "import base64, json, mlflow, pandas as pd, sys\n"
        f"mlflow.set_tracking_uri({settings.mlflow_tracking_uri!r}); mlflow.set_registry_uri({settings.mlflow_tracking_uri!r})\n"
        f"model = mlflow.pyfunc.load_model('models:/{MODEL}@champion')\n"
        f"image = base64.b64encode(open({lake.path(frame_key)!r}, 'rb').read()).decode()\n"
        "out = model.predict(pd.DataFrame({'image': [image]}), params=None)\n"
        "print(json.dumps({'columns': list(out.columns), 'config': model.model_config,\n"
        "                  'inputs': model.metadata.get_input_schema().input_names()}))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VISION_", "PYTHONPATH"))}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["columns"] == ["image_index", "class_name", "score", "x1", "y1", "x2", "y2"]
    assert loaded["inputs"] == ["image"]
    assert loaded["config"]["class_names"] == ["car", "pedestrian", "cyclist"] and loaded["config"]["imgsz"] == 96

    # pull verifies every byte; a tampered artifact is refused and nothing reaches --out.
    code, out, err = run_cli(capsys, "pull", f"{MODEL}@champion", "--out", str(tmp_path / "pulled"))
    assert code == 0, err
    assert (tmp_path / "pulled" / "MLmodel").exists() and (tmp_path / "pulled" / "artifacts" / "best.onnx").exists()
    stored_onnx = next(Path(settings.mlflow_artifact_root.removeprefix("file://")).rglob("model/artifacts/best.onnx"))
    original = flip_byte(stored_onnx, 5000)
    code, out, err = run_cli(capsys, "pull", f"{MODEL}@champion", "--out", str(tmp_path / "tampered"))
    assert code == 2 and err.startswith("vision-assets: error: artifacts/best.onnx: sha256") and "Traceback" not in err
    assert not (tmp_path / "tampered").exists()
    stored_onnx.write_bytes(original)

    # lineage --verify: passes, then fails naming a planted change in one frame and in one label file.
    code, out, err = run_cli(capsys, "lineage", "--verify", "--json")
    assert code == 0, err
    lineage = json.loads(out)
    assert lineage["verified"]["frames"] == len(lineage["frames"]) > 0 and lineage["verified"]["videos"] == 4
    assert lineage["verified"]["label_files"] == 4 and lineage["training"]["found"]
    assert {f["strategy"] for f in lineage["frames"]} == {"fixed_interval"}
    assert {q["passed"] for q in lineage["qc"]} == {True} and len(lineage["qc"]) == 2
    for key in (lineage["frames"][3]["key"], lineage["label_files"][1]["key"]):
        original = flip_byte(Path(lake.path(key)))
        code, out, err = run_cli(capsys, "lineage", "--verify")
        assert code == 2 and err.startswith("vision-assets: error: ") and key in err and "sha256" in err, err
        Path(lake.path(key)).write_bytes(original)
    assert run_cli(capsys, "lineage", "--verify")[0] == 0

    # forget: the impact report first, then the removal.
    video = lineage["videos"][0]
    code, out, err = run_cli(capsys, "forget", video["source_name"], "--reason", "subject asked for deletion")
    assert code == 0 and "impact report only" in out and Path(lake.path(video["key"])).exists()
    code, out, err = run_cli(capsys, "lineage", "--video", video["sha256"][:12], "--json")
    impact = json.loads(out)
    assert impact["model_versions"][0]["version"] == "1" and impact["frames"]["count"] > 0
    assert impact["dataset_versions"] == [v1.tags["dataset_version"]]

    code, out, err = run_cli(capsys, "forget", video["sha256"], "--apply", "--reason", "subject asked for deletion")
    assert code == 0, err
    assert not Path(lake.path(video["key"])).exists()
    assert all(not Path(lake.path(k)).exists() for k in impact["frames"]["keys"])
    for table in ("raw_videos", "sampled_frames", "annotations", "qc_annotations", "label_sources"):
        assert video["sha256"] not in set(lake.read_tables(table).get("video_sha256", pd.Series(dtype=str))), table
    assert registry.get_version(MODEL, "1").tags["tainted"].startswith(f"video {video['sha256'][:16]} forget")
    assert lake.read_json(f"datasets/{v1.tags['dataset_version']}/tainted.json")["videos"] == [video["sha256"]]
    audit = read_audit(lake)
    assert audit[audit["action"] == "forget"][["actor", "object", "reason"]].values.tolist() == [
        ["dpo-dana", f"video {video['sha256']}", "subject asked for deletion"]]
    assert set(audit["action"]) == {"promote", "labeling_queue_export", "pull", "forget", "alias_withdrawn"}
    # The tainted champion lost its alias (no clean version passed the gate), and its queue went with the video.
    assert registry.champion(MODEL) is None
    assert audit[audit["action"] == "alias_withdrawn"]["object"].tolist() == [f"{MODEL}@champion v1"]
    queued = [p for p in Path(lake.path("labeling_queue")).rglob("*") if p.is_file()] \
        if Path(lake.path("labeling_queue")).exists() else []
    assert [str(p) for p in queued if video["sha256"].encode() in p.read_bytes()] == []

    # Nothing comes back: the landed file is refused on re-ingest, the next dataset version excludes it.
    from vision_assets.core.ingest.landing import LandingFile
    from vision_assets.core.ingest.videos import ingest_file

    landed = next(settings.landing_dir.rglob(video["source_name"]))
    row = ingest_file(lake, LandingFile(landed, "cam-a", "2026-11-18", landed.stat().st_size, landed.stat().st_mtime_ns),
                      tmp_path / "cache")
    assert row["outcome"] == "forgotten" and row["video_sha256"] == ""
    daemon.sensor_tick("retrain_sensor")  # the removal is a change: a new dataset version and model
    latest = lake.read_json("datasets/latest.json")["version"]
    assert latest != v1.tags["dataset_version"]
    assert video["sha256"] not in lake.read_json(f"datasets/{latest}/dataset.json")["videos"]
    clean = registry.champion(MODEL)  # the clean retrain is the champion, not a challenger behind the tainted one
    assert clean is not None and str(clean.version) == "2" and not clean.tags.get("tainted")

    # The planted credential is nowhere: not in the event log, the lake, or MLflow's database and artifacts.
    for root in (settings.dagster_home, Path(settings.lake_root), settings.data_dir / "mlflow", Path(instance.root_directory)):
        for path in Path(root).rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert SECRET.encode() not in path.read_bytes(), path
