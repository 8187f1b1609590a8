"""The reports the command line prints, from the core: file fates, the summary, lineage and the champion policy,
on a lake written in tmp_path and a real MLflow (SQLite file)."""

from __future__ import annotations

import pandas as pd
import pytest

from vision_assets.core.ingest import ingest_report, label_drop_report, scan_label_drop_zone
from vision_assets.core.lake import Lake, keys
from vision_assets.core.records import Evaluation
from vision_assets.core.registry import (
    DECISION_TAG,
    DEFAULT_MODEL_NAME,
    ModelRegistry,
    collect_summary,
    decide_champion,
    model_lineage,
    record_decision,
)


def touch(path, data: bytes = b"not really a video"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def raw_video(name: str, **row) -> dict:
    return {"source_name": name, "video_sha256": f"sha-{name}", "outcome": "ok", "reason": "", "duplicate_of": "",
            "near_duplicate_of": "", "near_duplicate_distance": 0.0, "frames_decoded": 12, "duration_s": 1.2,
            "codec": "h264", **row}


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri())


def register(registry: ModelRegistry, tmp_path, **tags: str):
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    with registry.run("train", {}) as run_id:
        registry.log_artifact(run_id, weights, "weights")
    version = registry.register(DEFAULT_MODEL_NAME, run_id, "weights", tags)
    return registry.client.get_model_version(DEFAULT_MODEL_NAME, version.version)


def test_ingest_report_tells_each_landed_files_fate_from_raw_videos(tmp_path, lake):
    landing = tmp_path / "landing"
    for name in ("new.mp4", "copy.mp4", "reencode.mp4", "cut.avi"):
        touch(landing / "gate" / "2024-01-01" / name)
    touch(landing / "gate" / "2024-01-02" / "lost.mp4")  # its run failed: no table
    touch(landing / "dock" / "2023-12-31" / "old.mp4")  # ingested by an earlier run
    touch(landing / "gate" / "01-01-2024" / "late.mp4")
    lake.write_table(keys.RAW_VIDEOS, pd.DataFrame([
        raw_video("new.mp4"),
        raw_video("copy.mp4", duplicate_of="gate/2024-01-01/new.mp4"),
        raw_video("reencode.mp4", near_duplicate_of="gate/2024-01-01/new.mp4", near_duplicate_distance=6.5),
        raw_video("cut.avi", outcome="truncated", reason="only 203 of 795 frames decode"),
    ]), {"scene": "gate", "day": "2024-01-01"})
    lake.write_table(keys.RAW_VIDEOS, pd.DataFrame([raw_video("old.mp4")]), {"scene": "dock", "day": "2023-12-31"})

    report = ingest_report(lake, landing, ["2024-01-01|gate", "2024-01-02|gate"])

    fates = {entry["file"].removeprefix(f"{landing}/"): (entry["status"], entry["detail"]) for entry in report}
    assert fates == {
        "gate/2024-01-01/new.mp4": ("ingested", "12 frames, 1.2 s, h264"),
        "gate/2024-01-01/copy.mp4": ("duplicate", "same bytes as gate/2024-01-01/new.mp4"),
        "gate/2024-01-01/reencode.mp4": ("near-duplicate",
                                         "re-encode of gate/2024-01-01/new.mp4 (signature distance 6.5)"),
        "gate/2024-01-01/cut.avi": ("truncated", "only 203 of 795 frames decode"),
        "gate/2024-01-02/lost.mp4": ("not ingested", "ingest run failed"),
        "dock/2023-12-31/old.mp4": ("unchanged", "12 frames, 1.2 s, h264"),
        "gate/01-01-2024/late.mp4": ("refused", "day '01-01-2024' is not a YYYY-MM-DD date"),
    }
    new = next(entry for entry in report if entry["file"].endswith("new.mp4"))
    assert (new["video_sha256"], new["scene"], new["day"]) == ("sha-new.mp4", "gate", "2024-01-01")


def test_label_drop_report_matches_dropped_files_to_label_sources(tmp_path, lake):
    landing = tmp_path / "landing"
    zone = landing / "annotations"
    for name in ("short.json", "nobody.json", "garbled.json"):
        touch(zone / "gate" / "2024-01-01" / name, b"{}")
    touch(zone / "gate" / "2024-02-02" / "early.json", b"{}")
    touch(zone / "misplaced.json", b"{}")
    fingerprints = {entry.path.name: entry.fingerprint for entry in scan_label_drop_zone(landing)}
    lake.write_table(keys.LABEL_SOURCES, pd.DataFrame([
        {"fingerprint": fingerprints["short.json"], "format": "coco", "rows": 3},
        {"fingerprint": fingerprints["nobody.json"], "format": "unmatched", "rows": 0},
        {"fingerprint": fingerprints["garbled.json"], "format": "unreadable", "rows": 0},
    ]), {"scene": "gate", "day": "2024-01-01"})

    report = label_drop_report(lake, landing)

    assert {entry["file"].removeprefix(f"{zone}/"): (entry["status"], entry["detail"]) for entry in report} == {
        "gate/2024-01-01/short.json": ("labels", "3 coco rows"),
        "gate/2024-01-01/nobody.json": ("unmatched", "no video named nobody in gate/2024-01-01"),
        "gate/2024-01-01/garbled.json": ("unreadable", "see the annotations asset's label_files_readable check"),
        "gate/2024-02-02/early.json": ("waiting", "no videos of its partition yet"),
        "misplaced.json": ("refused", "expected landing/annotations/<scene>/<YYYY-MM-DD>/<video stem>.<ext>"),
    }


def test_summary_of_an_empty_lake_and_registry(lake, registry):
    assert collect_summary(lake, registry, DEFAULT_MODEL_NAME) == {
        "videos": 0, "video_outcomes": {}, "scenes_x_days": 0, "scenes": [], "frames": 0,
        "annotations_kept": 0, "annotations_rejected": 0}


def test_summary_counts_the_lake_and_names_the_latest_model_and_the_champion(tmp_path, lake, registry):
    lake.write_table(keys.RAW_VIDEOS, pd.DataFrame([raw_video("a.mp4"), raw_video("b.mp4", outcome="truncated")]),
                     {"scene": "gate", "day": "2024-01-01"})
    lake.write_table(keys.RAW_VIDEOS, pd.DataFrame([raw_video("c.mp4")]), {"scene": "dock", "day": "2024-01-01"})
    lake.write_table(keys.SAMPLED_FRAMES, pd.DataFrame({"frame_index": [0, 5, 10]}), {"scene": "gate", "day": "2024-01-01"})
    lake.write_table(keys.QC_SUMMARY, pd.DataFrame({"kept": [40], "rejected": [2]}), {"scene": "gate", "day": "2024-01-01"})
    lake.write_table(keys.QC_SUMMARY, pd.DataFrame({"kept": [8], "rejected": [1]}), {"scene": "dock", "day": "2024-01-01"})
    lake.write_json(keys.LATEST_DATASET, {"version": "d2"})
    first = register(registry, tmp_path, dataset_version="d1", map50_95="0.25", map50="0.5")
    register(registry, tmp_path, dataset_version="d2", map50_95="0.375", map50="0.625")
    registry.promote(DEFAULT_MODEL_NAME, first.version)

    summary = collect_summary(lake, registry, DEFAULT_MODEL_NAME)

    assert summary == {
        "videos": 3, "video_outcomes": {"ok": 2, "truncated": 1}, "scenes_x_days": 2, "scenes": ["dock", "gate"],
        "frames": 3, "annotations_kept": 48, "annotations_rejected": 3, "dataset_version": "d2",
        "model": {"name": DEFAULT_MODEL_NAME, "version": "2", "map50_95": 0.375, "map50": 0.625, "dataset_version": "d2"},
        "champion": {"name": DEFAULT_MODEL_NAME, "version": "1", "map50_95": 0.25, "map50": 0.5,
                     "dataset_version": "d1"},
    }
    assert list(summary)[-3:] == ["dataset_version", "model", "champion"]  # the order `summary --json` prints


def test_lineage_comes_from_the_dataset_record_of_the_champion_or_the_named_version(tmp_path, lake, registry):
    assert model_lineage(registry, lake, DEFAULT_MODEL_NAME) is None  # no champion yet
    register(registry, tmp_path, dataset_version="d1")
    register(registry, tmp_path, dataset_version="d2")
    registry.promote(DEFAULT_MODEL_NAME, "2")
    sources = [{"video_sha256": "v1", "source_name": "a.mp4"}]
    lake.write_json(keys.dataset_record_key("d1"), {"version": "d1", "videos": ["v1", "v2"], "counts": {"train": 2}})
    lake.write_json(keys.dataset_record_key("d2"), {"version": "d2", "videos": ["v1"], "video_sources": sources,
                                                    "label_files": [{"label_file_sha256": "l1"}]})

    champion = model_lineage(registry, lake, DEFAULT_MODEL_NAME)
    named = model_lineage(registry, lake, DEFAULT_MODEL_NAME, "1")

    assert champion["model"]["version"] == "2" and champion["model"]["tags"]["dataset_version"] == "d2"
    assert champion["dataset"] == {"version": "d2", "counts": None, "label_versions": None, "split_config": None}
    assert champion["videos"] == sources and champion["label_files"] == [{"label_file_sha256": "l1"}]
    assert named["model"]["version"] == "1" and named["dataset"]["counts"] == {"train": 2}
    # An older record without per-video sources still names the exact video bytes, by digest.
    assert named["videos"] == [{"video_sha256": "v1"}, {"video_sha256": "v2"}] and named["label_files"] == []


def report(score: float, test_split_hash: str = "split-1") -> Evaluation:
    return Evaluation(evaluation_key=f"k-{score}", checkpoint_sha256="c" * 64, dataset_version="d1",
                      test_split_hash=test_split_hash, overall={"map50_95": score})


def test_champion_policy_promotes_the_first_model_and_only_a_better_one_after_it(tmp_path, lake, registry):
    v1 = register(registry, tmp_path, test_split_hash="split-1", map50_95="0.5")
    v2 = register(registry, tmp_path, test_split_hash="split-1", map50_95="0.25")
    v3 = register(registry, tmp_path, test_split_hash="split-1", map50_95="0.75")
    args = (lake,)

    assert decide_champion(registry, DEFAULT_MODEL_NAME, v1, report(0.5), *args) == "champion (first model)"
    assert decide_champion(registry, DEFAULT_MODEL_NAME, v1, report(0.5), *args) == "champion"
    assert decide_champion(registry, DEFAULT_MODEL_NAME, v2, report(0.25), *args) == (
        "not promoted (v1 keeps it: 0.5000 >= 0.2500, its score from its registry tags (same test split))")
    assert decide_champion(registry, DEFAULT_MODEL_NAME, v3, report(0.75), *args) == (
        "champion (beat v1: 0.7500 > 0.5000, its score from its registry tags (same test split))")
    assert str(registry.champion(DEFAULT_MODEL_NAME).version) == "3"
    assert registry.client.get_model_version(DEFAULT_MODEL_NAME, "3").tags["previous_champion"] == "1"


def test_a_versions_champion_decision_is_made_once_and_recorded_on_it(tmp_path, lake, registry):
    v1 = register(registry, tmp_path, test_split_hash="split-1", map50_95="0.5")
    args = (lake, tmp_path / "work")

    assert record_decision(registry, DEFAULT_MODEL_NAME, v1, report(0.5), *args) == "champion (first model)"
    again = registry.client.get_model_version(DEFAULT_MODEL_NAME, "1")

    assert again.tags[DECISION_TAG] == "champion (first model)"
    assert record_decision(registry, DEFAULT_MODEL_NAME, again, report(0.5), *args) == "champion (first model)"


def test_label_drop_report_says_what_the_import_corrected_and_how_an_export_was_split(tmp_path, lake):
    landing = tmp_path / "landing"
    zone = landing / "annotations" / "gate" / "2024-01-01"
    touch(zone / "one_based.json", b"{}")
    touch(zone / "project.json", b"[]")
    fingerprints = {entry.path.name: entry.fingerprint for entry in scan_label_drop_zone(landing)}
    lake.write_table(keys.LABEL_SOURCES, pd.DataFrame([
        {"fingerprint": fingerprints["one_based.json"], "format": "coco", "rows": 548,
         "note": "image names count frames from 1: read 1-based"},
        {"fingerprint": fingerprints["project.json"], "format": "label_studio", "rows": 870,
         "note": "1 of the export's 2 tasks name a.mp4"},
        {"fingerprint": fingerprints["project.json"], "format": "label_studio", "rows": 981,
         "note": "1 of the export's 2 tasks name b.mp4"},
    ]), {"scene": "gate", "day": "2024-01-01"})

    report = {entry["file"].removeprefix(f"{zone}/"): entry["detail"] for entry in label_drop_report(lake, landing)}

    assert report == {
        "one_based.json": "548 coco rows (image names count frames from 1: read 1-based)",
        "project.json": "1851 label_studio rows for 2 videos (1 of the export's 2 tasks name a.mp4; 1 of the "
                        "export's 2 tasks name b.mp4)",
    }
