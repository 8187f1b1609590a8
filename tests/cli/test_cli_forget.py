"""Deletion means deletion: after `forget --apply` a tainted version holds no alias, nothing derived from the video
stays in the lake (labelling queue, replays, error crops, label counts), and every command that shows the tainted
version names the taint and the forget record. A small hand-made data folder with a real MLflow (SQLite)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import run_cli_in_process, settings_for
from test_cli_errors import one_line_error
from test_cli_video import run_cli

from vision_assets.core.lake import Lake, keys
from vision_assets.core.registry import DEFAULT_MODEL_NAME, ModelRegistry, read_audit
from vision_assets.core.registry.champion import GATE_TAG
from vision_assets.core.registry.forget import forget_video
from vision_assets.core.registry.mlflow_registry import CHALLENGER
from vision_assets.core.registry.summary import collect_summary

OLD, NEW, OTHER = (("old" * 64)[:64], ("new" * 64)[:64], ("other" * 64)[:64])
VIDEOS = {OLD: ("old", "cam-a", "2026-01-01"), NEW: ("new", "cam-a", "2026-11-30"), OTHER: ("other", "cam-b", "2026-01-01")}


def _register(registry: ModelRegistry, weights, dataset: str, gate: str) -> str:
    with registry.run("train", {}) as run_id:
        registry.log_artifact(run_id, weights, "weights")
    version = registry.register(DEFAULT_MODEL_NAME, run_id, "weights", {"dataset_version": dataset, GATE_TAG: gate,
                                                                          "map50_95": "0.5", "map50": "0.7"})
    return str(version.version)


@pytest.fixture
def world(tmp_path):
    """Three videos in two scenes with frames, QC'd labels, a labelling queue, an evaluation's replays and error
    crops; v1 (clean data, passed the gate), v2 (made from the `old` video, champion and challenger)."""
    settings = settings_for(tmp_path / "data")
    lake = Lake(settings.lake_root)
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    for sha, (name, scene, day) in VIDEOS.items():
        _, video_key, _ = lake.put_blob_bytes(keys.VIDEO_BLOBS, name.encode(), ".mp4", digest=sha)
        _, frame, _ = lake.put_blob_bytes(keys.FRAME_BLOBS, f"jpeg of {name}".encode(), ".jpg")
        part = {"scene": scene, "day": day}
        lake.write_table(keys.RAW_VIDEOS, pd.DataFrame([{"video_sha256": sha, "source_name": f"{name}.mp4",
                                                         "source_path": f"{scene}/{day}/{name}.mp4",
                                                         "stored_path": video_key, "outcome": "ok"}]), part)
        lake.write_table(keys.SAMPLED_FRAMES, pd.DataFrame([{"video_sha256": sha, "frame_sha256": "f" + name,
                                                             "image_path": frame, "frame_index": 0}]), part)
        boxes = pd.DataFrame([{"video_sha256": sha, "frame_index": i, "class_name": "car"} for i in range(3)])
        lake.write_table(keys.QC_ANNOTATIONS, boxes, part)
        lake.write_table(keys.QC_REJECTED, boxes.head(1), part)
        lake.write_table(keys.QC_SUMMARY, pd.DataFrame([{"label_version": "l1", "kept": 3, "rejected": 1,
                                                         "flagged": 0, "pass_rate": 0.75, "passed": True}]), part)
        queue = keys.labeling_queue_folder(scene, day, "2")
        lake.write_bytes(f"{queue}/images/{name}_000000.jpg", f"jpeg of {name}".encode())
        lake.write_json(f"{queue}/coco.json", {"images": [{"file_name": f"{name}_000000.jpg", "video_sha256": sha}]})
        lake.write_json(f"{queue}/label_studio.json", [{"data": {"video_sha256": sha}}])
        lake.write_bytes(f"evaluations/e1/replays/{sha[:16]}.mp4", b"replay of " + name.encode())
        from vision_assets.core.preview import remember_preview

        sheet = lake.put_blob_bytes(keys.PREVIEW_BLOBS, f"contact sheet of {scene}/{day}".encode(), ".jpg")[1]
        remember_preview(lake, scene, day, sheet)
    crops = {sha: lake.put_blob_bytes(keys.ERROR_BLOBS, f"crop of {sha}".encode(), ".jpg")[1] for sha in VIDEOS}
    lake.write_table(keys.EVAL_ERRORS, pd.DataFrame([{"video_sha256": sha, "kind": "fp", "crop_key": key}
                                                     for sha, key in crops.items()]), {"evaluation": "e1"})
    lake.write_json(keys.dataset_record_key("d1"), {"version": "d1", "class_names": ["car"], "videos": [NEW, OTHER]})
    lake.write_json(keys.dataset_record_key("d2"), {"version": "d2", "class_names": ["car"], "videos": sorted(VIDEOS)})
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"w")
    assert _register(registry, weights, "d1", "pass") == "1"
    assert _register(registry, weights, "d2", "pass") == "2"
    registry.promote(DEFAULT_MODEL_NAME, "1")
    registry.promote(DEFAULT_MODEL_NAME, "2")
    registry.set_alias(DEFAULT_MODEL_NAME, CHALLENGER, "2")
    return settings, lake, registry, crops


def test_a_tainted_champion_gives_the_alias_to_the_latest_clean_version_that_passed_the_gate(world):
    settings, lake, registry, _ = world

    report = forget_video(registry, lake, DEFAULT_MODEL_NAME, "old.mp4", "erasure request #12", apply=True)

    assert report["aliases"] == {"champion": ("2", "1"), "challenger": ("2", None)}
    assert str(registry.champion(DEFAULT_MODEL_NAME).version) == "1"
    assert CHALLENGER not in registry.aliases(DEFAULT_MODEL_NAME)
    withdrawn = read_audit(lake).query("action == 'alias_withdrawn'")
    assert sorted(withdrawn["object"]) == [f"{DEFAULT_MODEL_NAME}@challenger v2", f"{DEFAULT_MODEL_NAME}@champion v2"]
    assert all(reason.startswith("tainted: video oldoldoldoldoldo forget") for reason in withdrawn["reason"])


def test_without_a_clean_version_the_champion_alias_goes_and_a_retrain_takes_it(world):
    settings, lake, registry, _ = world
    registry.client.set_model_version_tag(DEFAULT_MODEL_NAME, "1", GATE_TAG, "fail")

    report = forget_video(registry, lake, DEFAULT_MODEL_NAME, OLD, "erasure", apply=True)

    assert report["aliases"]["champion"] == ("2", None) and registry.champion(DEFAULT_MODEL_NAME) is None


def test_what_was_derived_from_the_video_goes_too(world):
    settings, lake, registry, crops = world

    forget_video(registry, lake, DEFAULT_MODEL_NAME, OLD, "erasure", apply=True)

    assert not lake.exists("labeling_queue/scene=cam-a/day=2026-01-01")
    assert lake.exists(f"{keys.labeling_queue_folder('cam-b', '2026-01-01', '2')}/coco.json")
    texts = [p for p in lake.local_path("").rglob("*") if p.is_file() and p.suffix in (".json", ".parquet", ".csv")
             and "forgotten" not in p.parts and "audit" not in str(p) and "datasets" not in p.parts]
    assert [str(p) for p in texts if OLD.encode() in p.read_bytes()] == []
    assert not lake.exists(f"evaluations/e1/replays/{OLD[:16]}.mp4") and lake.exists(f"evaluations/e1/replays/{NEW[:16]}.mp4")
    assert not lake.exists(crops[OLD]) and lake.exists(crops[NEW])
    sheets = {p.read_bytes() for p in lake.local_path("blobs/previews").rglob("*.jpg")}
    assert sheets == {b"contact sheet of cam-a/2026-11-30", b"contact sheet of cam-b/2026-01-01"}
    counts = collect_summary(lake, registry)
    assert (counts["annotations_kept"], counts["annotations_rejected"]) == (6, 2)  # two videos' labels, not three


def test_summary_lineage_promote_and_reproduce_name_the_taint(world, tmp_path):
    settings, lake, registry, _ = world
    forgot = run_cli("forget", OLD, "--apply", "--reason", "erasure request #12", data_dir=settings.data_dir)

    assert forgot.returncode == 0, forgot.stderr
    assert "@champion: v2 is tainted; now v1" in forgot.stdout and "@challenger: v2 is tainted; removed" in forgot.stdout
    # The forget is the real command in its own process; what each command then shows is read in this one.
    summary = run_cli_in_process("summary", data_dir=settings.data_dir)
    refused = run_cli_in_process("promote", "2", data_dir=settings.data_dir)
    lineage = run_cli_in_process("lineage", "--version", "2", "--verify", data_dir=settings.data_dir)
    promoted = run_cli_in_process("promote", "2", "--reason", "legal cleared the footage", data_dir=settings.data_dir)

    assert summary.returncode == 0, summary.stderr
    assert "forgotten videos:  1" in summary.stdout and "erasure request #12" in summary.stdout
    one_line_error(refused, "v2 is tainted", "--reason")
    line = one_line_error(lineage, "missing from the lake", "v2 is tainted", "erasure request #12",
                          f"forgotten/{OLD}.json")
    assert "video" in line
    assert promoted.returncode == 0, promoted.stderr
    assert "TAINTED" in run_cli_in_process("summary", data_dir=settings.data_dir).stdout
    overrides = read_audit(lake).query("action == 'taint_override'")
    assert overrides[["object", "reason"]].values.tolist() == [[f"{DEFAULT_MODEL_NAME} v2", "legal cleared the footage"]]

    from vision_assets.core.training.reproduce import TaintedReproduction, reproduce

    with pytest.raises(TaintedReproduction, match=r"d2 is tainted.*erasure request #12"):
        reproduce(lake, {"dataset_version": "d2", "config": {}, "fingerprint": "x"}, tmp_path / "work")
    as_json = json.loads(run_cli_in_process("summary", "--json", data_dir=settings.data_dir).stdout)
    assert as_json["champion"]["tainted"].startswith("video oldoldoldoldoldo forget: erasure request #12")
