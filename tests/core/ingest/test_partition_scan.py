"""One partition's scan looks only where its files can be, and finds exactly what the whole-zone scan finds."""

from __future__ import annotations

import json
from pathlib import Path

from vision_assets.core.ingest import files_for_partition, scan_landing


def fake_video(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + path.name.encode())
    return path


def test_a_partitions_files_are_the_whole_scans_files_of_that_partition(tmp_path):
    landing = tmp_path / "landing"
    for scene in ("cam-1", "cam-2"):
        for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
            fake_video(landing / scene / day / f"{scene}-{day}.mp4")
    # Placed by their sidecars: at the top and directly in a scene folder; one nested too deep (refused).
    for path, sidecar in [(landing / "top.mp4", {"scene": "cam-1", "day": "2024-01-02"}),
                          (landing / "cam-1" / "scene-level.mp4", {"day": "2024-01-02"}),
                          (landing / "cam-1" / "2024-01-01" / "nested" / "deep.mp4", {"day": "2024-01-02"}),
                          (landing / "cam-2" / "elsewhere.mp4", {"day": "2024-01-02"})]:
        fake_video(path)
        path.with_suffix(".json").write_text(json.dumps(sidecar))
    whole = scan_landing(landing)
    for scene in ("cam-1", "cam-2"):
        for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
            expected = sorted(f.landing_key for f in whole if not f.refused and (f.scene, f.day) == (scene, day))
            assert sorted(f.landing_key for f in files_for_partition(landing, scene, day)) == expected
    cam1_day2 = sorted(f.landing_key for f in files_for_partition(landing, "cam-1", "2024-01-02"))
    assert cam1_day2 == ["cam-1/2024-01-02/cam-1-2024-01-02.mp4", "cam-1/scene-level.mp4", "top.mp4"]
    assert "expected landing/<scene>/<YYYY-MM-DD>/<file>" in next(f.refused for f in whole if f.path.name == "deep.mp4")
