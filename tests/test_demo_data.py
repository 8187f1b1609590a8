"""The demo footage generator: layout, exact frame counts, determinism, idempotence, and labels QC agrees with."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from vision_assets.core.annotations import read_annotations
from vision_assets.core.demo_data import DEMO_CLASSES, DemoSpec, generate_demo_data
from vision_assets.core.qc import run_qc

SMALL = DemoSpec(scenes=("cam-x",), days=("2026-01-05",), videos_per_day=2, seconds=3.0, fps=10, width=160,
                 height=96, seed=11)


def decoded(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    landing = tmp_path_factory.mktemp("landing")
    return landing, generate_demo_data(landing, SMALL)


def test_layout_and_exact_frame_counts(generated):
    landing, summary = generated
    folder = landing / "cam-x" / "2026-01-05"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"cam-x_2026-01-05_{n}.{ext}" for n in (0, 1) for ext in ("json", "mp4", "xml")]
    for video in folder.glob("*.mp4"):
        frames = decoded(video)
        assert len(frames) == 30 and frames[0].shape == (96, 160, 3)
    assert summary["videos"] == 2 and summary["frames"] == 60
    sidecar = json.loads((folder / "cam-x_2026-01-05_0.json").read_text())
    assert sidecar["lighting"] in {"day", "night"} and sidecar["capture_start"].startswith("2026-01-05")


def test_same_seed_gives_the_same_footage_and_labels(generated, tmp_path):
    landing, summary = generated
    again = generate_demo_data(tmp_path / "again", SMALL)
    assert {k: v for k, v in again.items() if k != "files"} == {k: v for k, v in summary.items() if k != "files"}
    for name in ("cam-x_2026-01-05_0", "cam-x_2026-01-05_1"):
        first, second = landing / "cam-x" / "2026-01-05" / name, tmp_path / "again" / "cam-x" / "2026-01-05" / name
        assert first.with_suffix(".xml").read_bytes() == second.with_suffix(".xml").read_bytes()
        digest = [hashlib.md5(np.stack(decoded(p.with_suffix(".mp4"))).tobytes()).hexdigest() for p in (first, second)]
        assert digest[0] == digest[1]


def test_a_second_generation_rewrites_nothing(generated):
    landing, summary = generated
    before = {p: p.stat().st_mtime_ns for p in landing.rglob("*") if p.is_file()}
    assert generate_demo_data(landing, SMALL)["boxes"] == summary["boxes"]
    assert {p: p.stat().st_mtime_ns for p in landing.rglob("*") if p.is_file()} == before


def test_labels_import_and_qc_rejects_exactly_the_planted_bad_boxes(generated):
    landing, summary = generated
    rows = [read_annotations(p).assign(video_sha256=p.stem) for p in sorted(landing.rglob("*.xml"))]
    labels = pd.concat(rows, ignore_index=True)
    assert len(labels) == summary["boxes"]
    result = run_qc(labels, {p.stem: (160, 96) for p in landing.rglob("*.mp4")}, DEMO_CLASSES)
    assert len(result.rejected) == summary["bad_boxes"] > 0


def test_boxes_sit_on_drawn_objects_and_night_is_darker(generated):
    landing, _ = generated
    brightness = {}
    for video in sorted(landing.rglob("*.mp4")):
        frames = decoded(video)
        labels = read_annotations(video.with_suffix(".xml"))
        good = labels[labels["class_name"] == "car"]
        good = good[(good["x1"] >= 0) & (good["x2"] <= 160) & (good["x2"] - good["x1"] > 8)]
        lighting = json.loads(video.with_suffix(".json").read_text())["lighting"]
        brightness[lighting] = float(np.mean([f.mean() for f in frames]))
        if good.empty:
            continue
        row = good.iloc[len(good) // 2]
        frame = frames[int(row.frame_index)].astype(float)
        inside = frame[int(row.y1):int(row.y2), int(row.x1):int(row.x2)]
        # A car's pixels differ clearly from the frame's average colour (road, sidewalk, sky).
        assert np.abs(inside - frame.mean(axis=(0, 1))).mean() > 5
    if {"day", "night"} <= set(brightness):
        assert brightness["night"] < brightness["day"] - 20
