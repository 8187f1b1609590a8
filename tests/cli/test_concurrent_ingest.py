"""Two `vision-assets ingest` started together on one data folder: both succeed and the lake is that of one run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import REPO_ROOT

from vision_assets.core.lake import Lake, keys


@pytest.mark.slow
def test_two_ingests_at_once_both_succeed_and_ingest_once(tmp_path, material):
    data = tmp_path / "data"
    day = data / "landing" / "cam-1" / "2024-01-02"
    day.mkdir(parents=True)
    shutil.copy(material / "videos" / "realshort.mp4", day / "a.mp4")
    env = {**os.environ, "VISION_DATA_DIR": str(data)}
    command = [sys.executable, "-m", "vision_assets.cli", "ingest", "--json"]

    processes = [subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in processes]

    for code, _, stderr in results:
        assert code == 0, stderr
        assert "UNIQUE constraint" not in stderr and "Traceback" not in stderr
    reports = [json.loads(stdout) for _, stdout, _ in results]
    ingest_runs = [r for report in reports for r in report["runs"] if r["job"] == "ingest_videos"]
    assert len(ingest_runs) == 1 and ingest_runs[0]["success"]
    assert sorted(f["status"] for report in reports for f in report["files"]) == ["ingested", "unchanged"]
    lake = Lake(str(data / "lake"))
    table = lake.read_table(keys.RAW_VIDEOS, {"scene": "cam-1", "day": "2024-01-02"})
    assert table["source_name"].tolist() == ["a.mp4"]
    assert [p.parent.parent.name for p in (data / "lake").rglob("*.mp4")] == [keys.VIDEO_BLOBS]  # one blob
