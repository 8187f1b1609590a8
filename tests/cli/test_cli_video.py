"""`vision-assets sample` and `vision-assets ingest` as a user runs them: a real process, real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import REPO_ROOT


def run_cli(*args: str, data_dir=None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"VISION_DATA_DIR": str(data_dir)} if data_dir else {})}
    return subprocess.run([sys.executable, "-m", "vision_assets.cli", *args], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=300)


@pytest.mark.parametrize("name, outcome, claimed, decoded", [
    ("broken/vtest_truncated_2MiB.avi", "truncated", 795, 203),
    ("broken/bigbuckbunny_truncated_50pct_no_moov.mp4", "quarantined", 0, 0),
    ("broken/empty.mp4", "quarantined", 0, 0),
])
def test_sample_reports_broken_files_as_results(material, name, outcome, claimed, decoded):
    result = run_cli("sample", str(material / "videos" / name), "--strategy", "fixed_interval", "--every", "5", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["outcome"], report["frames_claimed"], report["frames_decoded"]) == (outcome, claimed, decoded)
    assert report["reason"] and name.split("/")[-1] in report["reason"]
    if outcome == "truncated":  # the decodable 20.3 s are sampled every 5 s by timestamp
        assert [(f["index"], f["timestamp"]) for f in report["frames"]] == [
            (0, 0.0), (50, 5.0), (100, 10.0), (150, 15.0), (200, 20.0)]
        assert report["fps"] == 10.0
    else:
        assert report["frames"] == []


def test_sample_writes_frames_and_prints_them(tmp_path, material):
    result = run_cli("sample", str(material / "videos" / "realshort.mp4"), "--strategy", "keyframes",
                     "--out", str(tmp_path / "out"))

    assert result.returncode == 0, result.stderr
    assert "realshort.mp4: ok" in result.stdout and "keyframes" in result.stdout
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written and all(name.startswith("frame_") and name.endswith(".jpg") for name in written)
    assert len(written) == json.loads(run_cli("sample", str(material / "videos" / "realshort.mp4"), "--strategy",
                                              "keyframes", "--json").stdout)["kept"]


def test_sample_rejects_an_unknown_strategy_with_the_known_names(material):
    result = run_cli("sample", str(material / "videos" / "realshort.mp4"), "--strategy", "nope")
    assert result.returncode == 2 and "fixed_interval" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_ingest_prints_each_files_outcome(tmp_path, material):
    landing = tmp_path / "data" / "landing"
    videos = material / "videos"
    for relative, source in {"gate/2024-01-01/short.mp4": videos / "realshort.mp4",
                             "gate/2024-01-01/take2.mp4": videos / "realshort.mp4",
                             "gate/2024-01-01/cut.avi": videos / "broken" / "vtest_truncated_2MiB.avi",
                             "gate/2024-01-01/empty.mp4": videos / "broken" / "empty.mp4",
                             "gate/01-01-2024/late.mp4": videos / "realshort.mp4"}.items():
        (landing / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, landing / relative)

    result = run_cli("ingest", "--json", data_dir=tmp_path / "data")

    assert result.returncode == 0, result.stderr
    report = {entry["file"].removeprefix(str(landing) + "/"): entry for entry in json.loads(result.stdout)["files"]}
    assert {k: v["status"] for k, v in report.items()} == {
        "gate/2024-01-01/short.mp4": "ingested", "gate/2024-01-01/take2.mp4": "duplicate",
        "gate/2024-01-01/cut.avi": "truncated", "gate/2024-01-01/empty.mp4": "quarantined",
        "gate/01-01-2024/late.mp4": "refused"}
    assert "only 203 of 795" in report["gate/2024-01-01/cut.avi"]["detail"]
    assert "not a YYYY-MM-DD date" in report["gate/01-01-2024/late.mp4"]["detail"]

    drop = landing / "annotations" / "gate" / "2024-01-01"
    drop.mkdir(parents=True)
    coco = {"images": [{"id": 1, "file_name": "frame_000003.jpg", "width": 320, "height": 240}],
            "categories": [{"id": 1, "name": "car"}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 30], "area": 1200}]}
    (drop / "short.json").write_text(json.dumps(coco))
    (drop / "nobody.json").write_text(json.dumps(coco))

    again = run_cli("ingest", data_dir=tmp_path / "data")

    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()
    assert any(line.startswith("unchanged") and "short.mp4" in line for line in lines)
    assert any(line.startswith("refused") and "late.mp4" in line for line in lines)
    assert any(line.startswith("labels") and "short.json: 1 coco rows" in line for line in lines)
    assert any(line.startswith("unmatched") and "nobody.json: no video named nobody" in line for line in lines)
