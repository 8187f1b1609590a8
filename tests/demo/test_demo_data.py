"""Synthetic demo data: layout, determinism, idempotence, CVAT structure, label truth and deliberate bad labels."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from vision_assets.core.labels import read_annotations
from vision_assets.core.qc import run_qc
from vision_assets.demo import DEMO_CLASSES, DemoSpec, generate_demo_data

# Two videos of one day, so one is lit by day and the other by night; 3 s keeps the whole module fast.
SMALL = DemoSpec(scenes=("cam-test",), days=("2026-11-18",), videos_per_day=2, seconds=3.0, fps=10, seed=3)
STEMS = ["cam-test_2026-11-18_0", "cam-test_2026-11-18_1"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("landing")
    return root, generate_demo_data(root, SMALL)


def folder(root: Path) -> Path:
    return root / "cam-test" / "2026-11-18"


def decode(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def frames_md5(path: Path) -> str:
    digest = hashlib.md5()
    for frame in decode(path):
        digest.update(frame.tobytes())
    return digest.hexdigest()


def expand(xml_path: Path) -> list[dict]:
    """Per-frame boxes as a CVAT importer sees them: linear between keyframes, nothing after an outside one."""
    root = ET.parse(xml_path).getroot()
    stop = int(root.findtext("meta/task/stop_frame"))
    rows = []
    for track in root.iter("track"):
        keys = sorted(
            (int(b.get("frame")), b.get("outside") == "1", b.get("occluded") == "1",
             np.array([float(b.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")]))
            for b in track.iter("box")
        )
        for i, (frame, outside, occluded, box) in enumerate(keys):
            if outside:
                continue
            end = keys[i + 1][0] if i + 1 < len(keys) else stop + 1
            for f in range(frame, end):
                t = (f - frame) / (keys[i + 1][0] - frame) if i + 1 < len(keys) else 0.0
                coords = box + (keys[i + 1][3] - box) * t if i + 1 < len(keys) else box
                rows.append({"track": int(track.get("id")), "label": track.get("label"), "frame": f,
                             "box": coords, "occluded": occluded})
    return rows


def is_valid(row: dict, w: int, h: int) -> bool:
    x1, y1, x2, y2 = row["box"]
    return row["label"] in DEMO_CLASSES and 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h


# ------------------------------------------------------------------------------------------ layout & video


def test_layout_and_summary(generated):
    root, summary = generated
    written = sorted(p.name for p in folder(root).iterdir())
    assert written == sorted(f"{s}{ext}" for s in STEMS for ext in (".json", ".mp4", ".xml"))  # no .partial left
    assert [p.name for p in root.iterdir()] == ["cam-test"]
    assert summary["files"] == [str(folder(root) / f"{s}.mp4") for s in STEMS]
    assert {k: summary[k] for k in ("videos", "scenes", "days", "frames")} == {
        "videos": 2, "scenes": 1, "days": 1, "frames": 60}


def test_videos_decode_to_exact_frame_count_and_size(generated):
    root, _ = generated
    for stem in STEMS:
        frames = decode(folder(root) / f"{stem}.mp4")
        assert len(frames) == SMALL.n_frames == 30
        assert {f.shape for f in frames} == {(SMALL.height, SMALL.width, 3)}


def test_night_is_darker_and_bluer_than_day(generated):
    root, _ = generated
    day, night = (np.mean(decode(folder(root) / f"{s}.mp4"), axis=(0, 1, 2)) for s in STEMS)  # BGR means
    assert night.mean() < 0.7 * day.mean()
    assert night[0] > night[2]  # blue above red at night


def test_sidecars(generated):
    root, _ = generated
    for stem, lighting in zip(STEMS, ("day", "night")):
        meta = json.loads((folder(root) / f"{stem}.json").read_text())
        assert set(meta) == {"device", "capture_start", "weather", "lighting", "tags"}
        assert meta["lighting"] == lighting
        assert meta["weather"] in {"clear", "rain", "fog"}
        assert datetime.fromisoformat(meta["capture_start"]).date().isoformat() == "2026-11-18"
        assert isinstance(meta["tags"], list) and meta["device"]


# ------------------------------------------------------------------------------------------ reproducibility


def test_same_seed_gives_identical_output(generated, tmp_path):
    root, summary = generated
    again = generate_demo_data(tmp_path, SMALL)
    assert {k: v for k, v in again.items() if k != "files"} == {k: v for k, v in summary.items() if k != "files"}
    for stem in STEMS:
        for ext in (".xml", ".json", ".mp4"):  # mp4v output turns out byte-stable too, the strongest check
            assert (folder(tmp_path) / f"{stem}{ext}").read_bytes() == (folder(root) / f"{stem}{ext}").read_bytes()
        assert frames_md5(folder(tmp_path) / f"{stem}.mp4") == frames_md5(folder(root) / f"{stem}.mp4")


def test_other_seed_gives_other_output(generated, tmp_path):
    root, _ = generated
    other = DemoSpec(**{**SMALL.__dict__, "seed": SMALL.seed + 1})
    generate_demo_data(tmp_path, other)
    stem = STEMS[0]
    assert (folder(tmp_path) / f"{stem}.xml").read_bytes() != (folder(root) / f"{stem}.xml").read_bytes()
    assert frames_md5(folder(tmp_path) / f"{stem}.mp4") != frames_md5(folder(root) / f"{stem}.mp4")


def test_second_call_writes_nothing_and_repairs_changed_files(tmp_path):
    first = generate_demo_data(tmp_path, SMALL)
    paths = sorted(folder(tmp_path).iterdir())
    before = {p: p.stat().st_mtime_ns for p in paths}
    assert generate_demo_data(tmp_path, SMALL) == first
    assert {p: p.stat().st_mtime_ns for p in sorted(folder(tmp_path).iterdir())} == before

    xml = folder(tmp_path) / f"{STEMS[0]}.xml"
    good = xml.read_bytes()
    xml.write_bytes(b"<annotations/>")
    generate_demo_data(tmp_path, SMALL)
    assert xml.read_bytes() == good


# ------------------------------------------------------------------------------------------ annotations


def test_cvat_structure(generated):
    root, _ = generated
    for stem in STEMS:
        doc = ET.parse(folder(root) / f"{stem}.xml").getroot()
        assert doc.tag == "annotations" and doc.findtext("version") == "1.1"
        task = doc.find("meta/task")
        assert task.findtext("size") == "30" and task.findtext("mode") == "interpolation"
        assert (task.findtext("start_frame"), task.findtext("stop_frame")) == ("0", "29")
        assert (task.findtext("frame_filter") or "") == ""
        assert tuple(e.text for e in task.findall("labels/label/name")) == DEMO_CLASSES
        assert (task.findtext("original_size/width"), task.findtext("original_size/height")) == ("320", "192")
        assert doc.findtext("meta/source") == f"{stem}.mp4"

        tracks = doc.findall("track")
        assert len(tracks) >= 3
        for track in tracks:
            assert track.get("source") == "manual"
            boxes = track.findall("box")
            assert boxes and all(b.get("keyframe") == "1" for b in boxes)
            frames = [int(b.get("frame")) for b in boxes]
            assert frames == sorted(set(frames))
            visible = [f for f, b in zip(frames, boxes) if b.get("outside") == "0"]
            assert np.diff(visible).max(initial=0) <= 5  # a keyframe at least every 5 frames
            # The track ends with one outside box right after its last visible frame, unless it lasts to the end.
            ends = [b.get("outside") for b in boxes]
            assert ends.count("1") == (0 if visible[-1] == 29 else 1)
            if "1" in ends:
                assert ends[-1] == "1" and frames[-1] == visible[-1] + 1
            for b in boxes:
                assert set(b.attrib) == {"frame", "outside", "occluded", "keyframe", "xtl", "ytl", "xbr", "ybr",
                                         "z_order"}
                assert all(len(b.get(k).split(".")[1]) == 2 for k in ("xtl", "ytl", "xbr", "ybr"))


def test_three_to_eight_objects_on_screen(generated):
    root, _ = generated
    for stem in STEMS:
        per_frame = np.bincount([r["frame"] for r in expand(folder(root) / f"{stem}.xml")], minlength=30)
        assert per_frame.max() <= 8 and per_frame.min() >= 2 and 3 <= per_frame.mean() <= 8


def test_bad_boxes_counted_exactly(generated):
    root, summary = generated
    rows = {s: expand(folder(root) / f"{s}.xml") for s in STEMS}
    bad = {s: [r for r in rs if not is_valid(r, SMALL.width, SMALL.height)] for s, rs in rows.items()}
    assert sum(map(len, rows.values())) == summary["boxes"]
    assert sum(map(len, bad.values())) == summary["bad_boxes"]
    assert all(len(b) >= 1 for b in bad.values())  # at least one per video when the share is positive


def test_project_importer_and_qc_reject_exactly_the_planted_bad_boxes(generated):
    root, summary = generated
    xmls = sorted(folder(root).glob("*.xml"))
    labels = pd.concat([read_annotations(p).assign(video_sha256=p.stem) for p in xmls], ignore_index=True)
    assert len(labels) == summary["boxes"]
    result = run_qc(labels, {p.stem: (SMALL.width, SMALL.height) for p in xmls}, DEMO_CLASSES)
    assert len(result.rejected) == summary["bad_boxes"] > 0


def test_no_bad_boxes_when_share_is_zero(tmp_path):
    spec = DemoSpec(**{**SMALL.__dict__, "bad_label_share": 0.0, "videos_per_day": 1})
    summary = generate_demo_data(tmp_path, spec)
    rows = expand(folder(tmp_path) / f"{STEMS[0]}.xml")
    assert summary["bad_boxes"] == 0 and len(rows) == summary["boxes"] > 0
    assert all(is_valid(r, spec.width, spec.height) for r in rows)


def test_boxes_cover_the_drawn_objects(generated):
    root, _ = generated
    for stem in STEMS:
        frames = np.stack(decode(folder(root) / f"{stem}.mp4")).astype(np.float32)
        # Objects keep moving, so the per-pixel median over time is the empty street.
        background = np.median(frames, axis=0)
        contrast, shapes = [], {c: [] for c in DEMO_CLASSES}
        for r in expand(folder(root) / f"{stem}.xml"):
            if not is_valid(r, SMALL.width, SMALL.height):
                continue
            x1, y1, x2, y2 = np.round(r["box"]).astype(int)
            diff = np.abs(frames[r["frame"], y1:y2, x1:x2] - background[y1:y2, x1:x2]).max(axis=2)
            if not r["occluded"]:
                contrast.append(diff.mean())
            if x1 > 0 and x2 < SMALL.width:  # fully in view: the box has the object's own proportions
                shapes[r["label"]].append((x2 - x1) / (y2 - y1))
        contrast = np.array(contrast)
        # Boxes shifted onto empty street score under 5; sparse cyclists at night are the faintest objects.
        assert np.median(contrast) > 20, stem
        assert np.mean(contrast > 8) > 0.9, stem
        assert min(shapes["car"], default=2) > 1.3  # cars are wide
        assert max(shapes["pedestrian"], default=0) < 0.7  # pedestrians tall and narrow


def test_tight_box_edges_touch_the_object(generated):
    # A box too big by even a pixel shows empty street along a whole side; check keyframes, which are exact.
    root, _ = generated
    stem = STEMS[0]
    frames = np.stack(decode(folder(root) / f"{stem}.mp4")).astype(np.float32)
    background = np.median(frames, axis=0)
    doc = ET.parse(folder(root) / f"{stem}.xml").getroot()
    edge_contrast = []
    for track in doc.iter("track"):
        if track.get("label") != "car":
            continue
        for b in track.iter("box"):
            x1, y1, x2, y2 = (int(float(b.get(k))) for k in ("xtl", "ytl", "xbr", "ybr"))
            if b.get("outside") == "1" or b.get("occluded") == "1" or not 0 <= x1 < x2 <= SMALL.width:
                continue
            diff = np.abs(frames[int(b.get("frame")), y1:y2, x1:x2] - background[y1:y2, x1:x2]).max(axis=2)
            edge_contrast.append(min(diff[0].max(), diff[-1].max(), diff[:, 0].max(), diff[:, -1].max()))
    assert edge_contrast and np.median(edge_contrast) > 30


def test_invalid_spec_is_rejected():
    with pytest.raises(ValueError):
        DemoSpec(days=("18.11.2026",))
    with pytest.raises(ValueError):
        DemoSpec(bad_label_share=1.5)
