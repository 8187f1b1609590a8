"""The whole evaluation of a checkpoint on a hand-made lake: tracking over a video with known tracks, its replay,
the error table, and the cache (the same key is never computed twice)."""

from __future__ import annotations

import cv2
import pandas as pd
import pytest
from evaluation_helpers import FRAMES, HEIGHT, WIDTH, build_evaluation_lake

from vision_assets.core.evaluation.checkpoint_report import EvaluationConfig, evaluate
from vision_assets.core.evaluation.error_table import KINDS
from vision_assets.core.evaluation.inference import InferenceConfig
from vision_assets.core.lake import keys

pytestmark = pytest.mark.slow  # YOLO over a video and images, a few times: about 35 s in all



def test_evaluation_is_stored_by_key_and_never_computed_twice(tmp_path):
    lake, dataset, weights, boxes = build_evaluation_lake(tmp_path)
    config = EvaluationConfig(inference=InferenceConfig(batch=4))
    args = dict(checkpoint_sha256="ab" * 32, imgsz=64, work_dir=tmp_path / "work", config=config)

    first, computed = evaluate(lake, dataset, weights, **args)
    assert computed
    record = lake.local_path(keys.evaluation_record_key(first.evaluation_key))
    written = record.stat().st_mtime_ns
    again, computed_again = evaluate(lake, dataset, weights, **args)
    assert not computed_again and again == first
    assert record.stat().st_mtime_ns == written

    assert first.evaluation_key.startswith("abababababababab-")
    assert first.inference_config["imgsz"] == 64 and first.inference_config["iou"] == 0.7
    assert set(first.inference_config) >= {"imgsz", "conf", "iou", "max_det", "class_names"}
    # Tracking: the labelled span is every frame, scored against every labelled box of both tracks.
    overall = first.tracking["overall"]
    assert overall["num_frames"] == FRAMES and overall["num_objects"] == len(boxes) == overall["n_boxes"]
    assert overall["num_unique_objects"] == 2
    assert set(first.tracking["by_scene"]) == {"cam-a"} and set(first.tracking["by_lighting"]) == {"day"}
    # The replay is a real MP4 of the evaluated frames.
    (replay,) = first.replays.values()
    video = cv2.VideoCapture(str(lake.local_path(replay)))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    assert (int(video.get(cv2.CAP_PROP_FRAME_WIDTH)), int(video.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (WIDTH, HEIGHT)
    video.release()
    # Every error is in the table, the counts agree, each detection error has its crop in the lake.
    table = pd.read_parquet(lake.local_path(first.errors["table"]))
    assert set(table["kind"]) <= set(KINDS)
    assert first.errors["counts"] == {k: int((table["kind"] == k).sum()) for k in KINDS}
    counts = first.errors["counts"]
    assert counts["fn"] + counts["loc"] + counts["cls"] <= 5  # each labelled box is explained at most once
    detection_errors = table[~table["kind"].isin(["idsw", "frag"])]
    assert detection_errors["crop_key"].map(lambda key: lake.exists(key)).all()
    # Slices include the sidecar's own fields.
    assert {(r["dimension"], r["value"]) for r in first.slices} >= {("weather", "rain"), ("mount", "pole"),
                                                                      ("device", "demo-1")}
    for key in first.plots.values():
        assert lake.local_path(key).read_bytes()[:4] == b"\x89PNG"

    # Another evaluation config is another key: computed anew.
    botsort = EvaluationConfig(inference=InferenceConfig(batch=4, tracker="botsort"), replays=False)
    other, computed_other = evaluate(lake, dataset, weights, **{**args, "config": botsort})
    assert computed_other and other.evaluation_key != first.evaluation_key
    assert other.tracking["tracker"] == "botsort" and other.replays == {}


def test_errors_command_lists_and_exports_a_stored_evaluation(tmp_path, monkeypatch, capsys):
    import json

    from vision_assets import cli

    lake, dataset, weights, _ = build_evaluation_lake(tmp_path)
    config = EvaluationConfig(inference=InferenceConfig(batch=4), tracking=False)
    report, _ = evaluate(lake, dataset, weights, checkpoint_sha256="cd" * 32, imgsz=64,
                                 work_dir=tmp_path / "work", config=config)
    monkeypatch.setenv("VISION_DATA_DIR", str(tmp_path))  # the lake is <data>/lake
    total = sum(report.errors["counts"].values())

    capsys.readouterr()
    assert cli.main(["errors", report.evaluation_key, "--json", "--limit", "100"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["evaluation_key"] == report.evaluation_key and listed["total"] == total
    assert [e["kind"] for e in listed["errors"]] == sorted(e["kind"] for e in listed["errors"])

    assert cli.main(["errors", "cd" * 32, "--kind", "fn", "--out", str(tmp_path / "out")]) == 0  # by checkpoint
    exported = pd.read_csv(tmp_path / "out" / "errors.csv")
    assert len(exported) == report.errors["counts"]["fn"]
    assert all((tmp_path / "out" / name).exists() for name in exported["file"])

    capsys.readouterr()
    assert cli.main(["errors", "0123456789abcdef0123"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vision-assets errors: 0123456789abcdef0123: no evaluation") and "\n" not in err


def test_a_checkpoint_that_finds_boxes_gives_tracks_false_alarms_and_their_crops(tmp_path):
    from evaluation_helpers import confident_weights

    lake, dataset, _, boxes = build_evaluation_lake(tmp_path)
    weights = confident_weights(tmp_path)
    config = EvaluationConfig(inference=InferenceConfig(batch=4))
    report, _ = evaluate(lake, dataset, weights, checkpoint_sha256="ef" * 32, imgsz=64,
                                 work_dir=tmp_path / "work", config=config)
    detections = pd.read_parquet(lake.local_path(report.detections))
    assert len(detections) and set(detections["class_name"]) == {"car"}
    overall = report.tracking["overall"]
    assert overall["num_predictions"] > 0 and overall["num_objects"] == len(boxes)
    table = pd.read_parquet(lake.local_path(report.errors["table"]))
    assert report.errors["counts"]["fp"] > 0
    # Every error, identity errors included (cut while the replay is drawn), has its JPEG crop in the lake.
    assert (table["crop_key"] != "").all()
    assert all(lake.local_path(k).read_bytes()[:2] == b"\xff\xd8" for k in table["crop_key"])
    assert {w["kind"] for w in report.errors["worst"]} == {k for k, n in report.errors["counts"].items() if n}
    assert all(w["caption"] for w in report.errors["worst"])
