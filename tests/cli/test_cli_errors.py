"""Every data command fails in one clear line: the object, the problem, a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from test_cli_video import run_cli

from vision_assets.cli.main import _one_line_failure
from vision_assets.core.errors import VisionError
from vision_assets.core.lake import Lake, keys
from vision_assets.core.lake.store import CorruptRecord, MissingRecord


def one_line_error(result, *fragments: str, code: int = 2) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 1 and lines[0].startswith("vision-assets: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def write_coco(path, bbox):
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "frame_000001.jpg", "width": 100, "height": 80}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": bbox}],
    }))
    return path


def test_qc_with_an_image_size_that_is_not_wxh(tmp_path):
    path = write_coco(tmp_path / "a.json", [1, 2, 3, 4])

    one_line_error(run_cli("qc", str(path), "--image-size", "abc"), "--image-size 'abc'", "WIDTHxHEIGHT")


def test_qc_of_a_missing_file(tmp_path):
    one_line_error(run_cli("qc", str(tmp_path / "nope.json")), "nope.json", "no such file")


def test_sample_of_a_missing_file_and_onto_an_existing_file(tmp_path, material):
    one_line_error(run_cli("sample", str(tmp_path / "missing.mp4")), "missing.mp4", "no such file")
    existing = tmp_path / "frames.jpg"
    existing.write_bytes(b"keep me")

    one_line_error(run_cli("sample", str(material / "videos" / "realshort.mp4"), "--out", str(existing)),
                   "--out", "exists and is not a folder")
    assert existing.read_bytes() == b"keep me"


def test_qc_json_is_strict_json_even_with_non_finite_boxes(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"images": [{"id": 1, "file_name": "frame_000001.jpg", "width": 100, "height": 80}], '
                    '"categories": [{"id": 1, "name": "car"}], "annotations": [{"id": 1, "image_id": 1, '
                    '"category_id": 1, "bbox": [NaN, 2, Infinity, 4]}]}')

    result = run_cli("qc", str(path), "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"bare {name} in qc --json"))
    [row] = report["rejected"]
    assert row["box"] == [None, 2.0, None, 6.0] and row["rules"] == ["coordinates_not_finite"]


def test_qc_of_one_yolo_file_reads_that_file_only(tmp_path):
    (tmp_path / "frame_000001.lbl").write_text("0 0.5 0.5 0.2 0.2\n")
    (tmp_path / "frame_000002.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.1 0.1 0.1 0.1\n")

    result = run_cli("qc", str(tmp_path / "frame_000001.lbl"), "--format", "yolo", "--image-size", "100x80",
                     "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 1


def test_label_studio_declared_sizes_count_as_declared(tmp_path):
    task = {"data": {"video": "v.mp4"}, "annotations": [{"result": [{
        "id": "1", "type": "videorectangle", "original_width": 200, "original_height": 100,
        "value": {"labels": ["car"], "framesCount": 2,
                  "sequence": [{"frame": 1, "x": 95, "y": 10, "width": 20, "height": 10, "enabled": False}]}}]}]}
    path = tmp_path / "ls.json"
    path.write_text(json.dumps([task]))

    report = json.loads(run_cli("qc", str(path), "--json").stdout)

    assert report["files_without_image_size"] == []
    assert report["rules"].get("box_outside_image") == 1  # 95 % + 20 % of 200 px leaves the declared frame


def test_summary_names_a_truncated_partition_and_summarises_the_rest(tmp_path):
    data = tmp_path / "data"
    lake = Lake(str(data / "lake"))
    row = {"video_sha256": "a" * 64, "source_name": "a.mp4", "outcome": "ok", "duplicate_of": ""}
    for day in ("2024-01-01", "2024-01-02"):
        lake.write_table(keys.RAW_VIDEOS, pd.DataFrame([row]), {"scene": "cam-1", "day": day})
    broken = data / "lake" / keys.table_key(keys.RAW_VIDEOS, {"scene": "cam-1", "day": "2024-01-02"})
    broken.write_bytes(broken.read_bytes()[:40])

    result = run_cli("summary", "--json", data_dir=data)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["videos"] == 1
    assert "warning: skipped lake table" in result.stderr and "day=2024-01-02" in result.stderr


def test_a_missing_or_corrupt_lake_record_is_one_line_naming_the_key(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    key = keys.dataset_record_key("v1")
    with pytest.raises(MissingRecord, match=f"lake record {key}: does not exist"):
        lake.read_json(key)
    lake.write_bytes(key, b'{"version": "v1", "split')
    with pytest.raises(CorruptRecord, match=f"lake record {key}: not valid JSON"):
        lake.read_json(key)
    assert issubclass(MissingRecord, VisionError) and issubclass(CorruptRecord, VisionError)


def test_main_prints_any_failure_as_one_line(capsys):
    assert _one_line_failure(VisionError("dataset v9: no such\nversion"), debug=False) == 2
    assert _one_line_failure(RuntimeError("boom at postgresql://ml:pw@db/x"), debug=False) == 1

    err = capsys.readouterr().err.splitlines()
    assert err[0] == "vision-assets: error: dataset v9: no such version"
    assert err[1].startswith("vision-assets: error: unexpected RuntimeError: boom") and "--debug" in err[1]
    assert "pw@" not in err[1] and not math.isnan(0.0)
