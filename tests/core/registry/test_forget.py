"""Forgetting and retention on a small hand-made lake with a real MLflow (SQLite): rows and bytes go, records
stay and are marked tainted, the audit has a row per video, and dataset builds skip the forgotten list."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from vision_assets.core.lake import Lake, keys
from vision_assets.core.registry import DEFAULT_MODEL_NAME, ModelRegistry, read_audit
from vision_assets.core.registry.forget import apply_retention, forget_video, retention_due
from vision_assets.core.registry.forgotten import forgotten_videos


@pytest.fixture
def world(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    registry = ModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri())
    videos = {"old": ("cam-a", "2026-01-01"), "new": ("cam-a", "2026-11-30"), "other": ("cam-b", "2026-01-01")}
    for name, (scene, day) in videos.items():
        sha = (name * 64)[:64]
        _, key, _ = lake.put_blob_bytes(keys.VIDEO_BLOBS, name.encode(), ".mp4", digest=sha)
        _, frame, _ = lake.put_blob_bytes(keys.FRAME_BLOBS, f"jpeg of {name}".encode(), ".jpg")
        part = {"scene": scene, "day": day}
        lake.write_table(keys.RAW_VIDEOS, pd.DataFrame([{"video_sha256": sha, "source_name": f"{name}.mp4",
                                                         "source_path": f"{scene}/{day}/{name}.mp4",
                                                         "stored_path": key, "outcome": "ok"}]), part)
        lake.write_table(keys.SAMPLED_FRAMES, pd.DataFrame([{"video_sha256": sha, "frame_sha256": "f" + name,
                                                             "image_path": frame, "frame_index": 0}]), part)
    lake.write_json(keys.dataset_record_key("d1"), {"version": "d1", "videos": sorted((n * 64)[:64] for n in videos)})
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"w")
    with registry.run("train", {}) as run_id:
        registry.log_artifact(run_id, weights, "weights")
    registry.register(DEFAULT_MODEL_NAME, run_id, "weights", {"dataset_version": "d1"})
    return lake, registry


def test_forget_reports_then_removes_and_taints(world, monkeypatch):
    lake, registry = world
    monkeypatch.setenv("VISION_USER", "privacy-officer")
    old = ("old" * 64)[:64]
    report = forget_video(registry, lake, DEFAULT_MODEL_NAME, "old.mp4", "erasure request #12", apply=False)
    assert report["applied"] is False and report["dataset_versions"] == ["d1"]
    assert [m["version"] for m in report["model_versions"]] == ["1"] and lake.exists(report["video"]["keys"][0])

    applied = forget_video(registry, lake, DEFAULT_MODEL_NAME, old, "erasure request #12", apply=True)

    assert applied["removed_rows"] == {"raw_videos": 1, "sampled_frames": 1} and applied["removed_blobs"] == 2
    assert not lake.exists(report["video"]["keys"][0]) and not any(lake.exists(k) for k in report["frames"]["keys"])
    assert old not in set(lake.read_tables(keys.RAW_VIDEOS)["video_sha256"]) and forgotten_videos(lake) == {old}
    assert registry.get_version(DEFAULT_MODEL_NAME, "1").tags["tainted"] == \
        f"video {old[:16]} forget: erasure request #12"
    assert lake.read_json("datasets/d1/tainted.json")["videos"] == [old]
    assert lake.read_json(keys.dataset_record_key("d1"))["videos"][1] == old  # the record stays as it was
    rows = read_audit(lake)[["action", "actor", "object", "reason"]].values.tolist()
    assert rows == [["forget", "privacy-officer", f"video {old}", "erasure request #12"]]
    with pytest.raises(ValueError, match="--reason"):
        forget_video(registry, lake, DEFAULT_MODEL_NAME, "new.mp4", " ", apply=True)


def test_retention_by_age_per_scene(world):
    lake, registry = world
    today = date(2026, 12, 2)
    due = retention_due(lake, {"cam-a": 30}, None, today)
    assert [(d["scene"], d["day"], d["age_days"]) for d in due] == [("cam-a", "2026-01-01", 335)]

    removed = apply_retention(registry, lake, DEFAULT_MODEL_NAME, {"cam-a": 30}, None, today)

    assert [r["video_sha256"] for r in removed] == [("old" * 64)[:64]]
    assert set(lake.read_tables(keys.RAW_VIDEOS)["source_name"]) == {"new.mp4", "other.mp4"}
    audit = read_audit(lake)
    assert audit["action"].tolist() == ["retention_delete"]
    assert audit["reason"].iloc[0] == "retention: scene cam-a keeps 30 days, footage of 2026-01-01 is 335 days old"
    # A default for every scene takes the rest; what is already forgotten is not due again.
    assert [d["scene"] for d in retention_due(lake, {"cam-a": 30}, 100, today)] == ["cam-b"]
