"""One bad file never stops the others: deep JSON, FIFOs, huge sparse files, ambiguous names, wrong sidecar types,
booleans in COCO and a truncated Parquet partition are each refused with a reason while the rest goes on."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pandas as pd
import pytest

from vision_assets.core.ingest import (
    files_for_partition,
    ingest_partition,
    label_files_for,
    scan_label_drop_zone,
    scan_landing,
)
from vision_assets.core.ingest.changes import landing_changes
from vision_assets.core.labels.canonical import AnnotationFormatError, read_annotations
from vision_assets.core.labels.partition import LabelFile, import_partition_labels
from vision_assets.core.lake import Lake, keys

DAY = "cam-1/2024-01-02"
DEEP = 200_000


def fake_video(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + path.name.encode())
    return path


def deep_json(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[" * DEEP + "]" * DEEP)
    return path


def landed(landing: Path) -> dict[str, object]:
    return {f.landing_key: f for f in scan_landing(landing)}


def finishes(function, *args):
    """Runs `function` in a thread; a reader blocked on a FIFO would never return, so the join has a guard."""
    result = {}

    def call():
        try:
            result["value"] = function(*args)
        except Exception as error:  # handed to the test's thread
            result["error"] = error

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), f"{function.__name__} blocked"
    if "error" in result:
        raise result["error"]
    return result["value"]


def coco(path: Path, **annotation) -> Path:
    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], **annotation}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "frame_000001.jpg", "width": 64, "height": 48}],
                                "categories": [{"id": 1, "name": "car"}], "annotations": [ann]}))
    return path


def test_a_sidecar_nested_200000_deep_refuses_its_video_and_the_others_land(tmp_path):
    landing = tmp_path / "landing"
    fake_video(landing / DAY / "deep.mp4")
    deep_json(landing / DAY / "deep.json")
    fake_video(landing / DAY / "fine.mp4")

    found = landed(landing)

    assert "nested deeper than 64 levels" in found[f"{DAY}/deep.mp4"].refused
    assert found[f"{DAY}/fine.mp4"].refused == ""


def test_the_same_deep_file_in_the_drop_zone_is_recorded_unreadable_not_a_crash(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    drop = deep_json(tmp_path / "landing" / "annotations" / DAY / "v.json")
    video = {"video_sha256": "a" * 64, "source_name": "v.mp4", "width": 64, "height": 48}

    labels = import_partition_labels(lake, {"scene": "cam-1", "day": "2024-01-02"}, [video], {},
                                     [LabelFile(drop, "v", "fp1")])

    assert [e["file"] for e in labels.errors] == ["v.json"] and "nested deeper" in labels.errors[0]["error"]
    assert labels.sources[["source_file", "format", "fingerprint"]].values.tolist() == [["v.json", "unreadable", "fp1"]]
    [problem] = labels.sources["problem"]
    assert problem == "JSON nested deeper than 64 levels"  # the reason, without the absolute path


def test_a_fifo_never_blocks_the_scans_or_the_readers(tmp_path):
    landing = tmp_path / "landing"
    fake_video(landing / DAY / "v.mp4")
    os.mkfifo(landing / DAY / "v.json")
    fake_video(landing / DAY / "w.mp4")
    os.mkfifo(landing / DAY / "w.xml")
    (landing / "annotations" / DAY).mkdir(parents=True)
    os.mkfifo(landing / "annotations" / DAY / "v.json")
    fake_video(landing / DAY / "pipe.mp4").unlink()
    os.mkfifo(landing / DAY / "pipe.mp4")

    found = finishes(landed, landing)
    dropped = finishes(scan_label_drop_zone, landing)

    assert "sidecar v.json is a FIFO, not a regular file" in found[f"{DAY}/v.mp4"].refused
    assert "label file is a FIFO" in found[f"{DAY}/w.xml"].refused and found[f"{DAY}/w.mp4"].refused == ""
    assert "is a FIFO" in found[f"{DAY}/pipe.mp4"].refused
    assert "is a FIFO" in dropped[0].refused
    with pytest.raises(AnnotationFormatError, match="is a FIFO, not a regular file"):
        finishes(read_annotations, landing / DAY / "v.json")


def test_a_5_gib_sparse_file_is_refused_before_copying_and_nothing_reaches_quarantine(tmp_path):
    landing, lake = tmp_path / "landing", Lake(str(tmp_path / "lake"))
    huge = landing / DAY / "huge.mp4"
    huge.parent.mkdir(parents=True)
    with open(huge, "wb") as handle:
        handle.truncate(5 * 1024**3)  # a real sparse file: 5 GiB long, almost no blocks on disk
    assert huge.stat().st_size == 5 * 1024**3 and huge.stat().st_blocks * 512 < 1024**2
    fake_video(landing / DAY / "small.mp4")

    refused = landed(landing)[f"{DAY}/huge.mp4"].refused
    files = files_for_partition(landing, "cam-1", "2024-01-02")
    table = ingest_partition(lake, [f for f in files if f.path.name == "huge.mp4"], None, tmp_path / "cache")

    assert "5,368,709,120 bytes, over the limit of 4,294,967,296 bytes" in refused
    assert [f.path.name for f in files] == ["small.mp4"] and table.empty
    assert not list((tmp_path / "lake").rglob("*huge*")) and not (tmp_path / "lake" / "quarantine").exists()


def test_the_size_limits_are_configurable(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_MAX_FILE_BYTES", "10")
    monkeypatch.setenv("VISION_MAX_LABEL_BYTES", "50")
    landing = tmp_path / "landing"
    fake_video(landing / DAY / "v.mp4")
    (landing / DAY / "v.mp4.xml").write_text("<annotations>" + " " * 100 + "</annotations>")

    found = landed(landing)

    assert "over the limit of 10 bytes" in found[f"{DAY}/v.mp4"].refused
    assert "over the limit of 50 bytes" in found[f"{DAY}/v.mp4.xml"].refused
    with pytest.raises(AnnotationFormatError, match="over the label file limit of 50 bytes"):
        read_annotations(landing / DAY / "v.mp4.xml")


def test_labels_attach_by_full_name_and_a_shared_stem_is_refused_as_ambiguous(tmp_path):
    landing = tmp_path / "landing"
    mp4, mkv = fake_video(landing / DAY / "v.mp4"), fake_video(landing / DAY / "v.mkv")
    (landing / DAY / "v.xml").write_text("<annotations/>")
    (landing / DAY / "v.json").write_text("{}")

    found = landed(landing)
    assert label_files_for(mp4) == [] and label_files_for(mkv) == []
    assert "ambiguous: v.mkv and v.mp4 share the stem 'v'" in found[f"{DAY}/v.xml"].refused
    assert "ambiguous" in found[f"{DAY}/v.json"].refused

    (landing / DAY / "v.mp4.xml").write_text("<annotations/>")
    assert label_files_for(mp4) == [landing / DAY / "v.mp4.xml"] and label_files_for(mkv) == []


def test_a_drop_zone_file_named_by_a_shared_stem_labels_no_video(tmp_path, material):
    lake, drop = Lake(str(tmp_path / "lake")), tmp_path / "landing" / "annotations" / DAY
    shared, full = coco(drop / "v.json"), coco(drop / "v.mp4.json")
    videos = [{"video_sha256": c * 64, "source_name": name, "width": 64, "height": 48}
              for c, name in (("a", "v.mp4"), ("b", "v.mkv"))]

    labels = import_partition_labels(lake, {"scene": "cam-1", "day": "2024-01-02"}, videos, {},
                                     [LabelFile(shared, "v", "f1"), LabelFile(full, "v.mp4", "f2")])

    assert "ambiguous: v.mkv and v.mp4 share the stem 'v'" in labels.errors[0]["error"]
    assert labels.table["video_sha256"].tolist() == ["a" * 64]  # only v.mp4, through its full name
    assert sorted(labels.sources["format"]) == ["ambiguous", "coco"]


@pytest.mark.parametrize("sidecar, reason", [
    ({"lighting": {"a": 1}}, '"lighting" must be a string, got an object'),
    ({"weather": None}, '"weather" must be a string, got null'),
    ({"scene": True}, '"scene" must be a string, got a boolean'),
    ({"tags": ["a", 3]}, '"tags" must be a list of strings'),
    ({"day": "2024-01-02", "capture_start": "2024-01-03T08:00:00Z"},
     '"day" \'2024-01-02\' contradicts "capture_start"'),
    ({"capture_start": "yesterday"}, "is not an ISO 8601 date-time"),
    ([1, 2], "must be a JSON object, got a list"),
])
def test_sidecar_values_of_the_wrong_type_refuse_the_video(tmp_path, sidecar, reason):
    landing = tmp_path / "landing"
    fake_video(landing / "inbox" / "v.mp4")
    (landing / "inbox" / "v.json").write_text(json.dumps(sidecar))

    [found] = scan_landing(landing)

    assert reason in found.refused and found.scene != "True"


def test_a_valid_sidecar_places_the_video_and_is_kept_as_json(tmp_path):
    landing = tmp_path / "landing"
    fake_video(landing / "v.mp4")
    sidecar = {"scene": "dock", "capture_start": "2024-05-06T23:30:00-02:00", "tags": ["night"], "rig": {"id": 4}}
    (landing / "v.mp4.json").write_text(json.dumps(sidecar))

    [found] = scan_landing(landing)

    assert (found.refused, found.scene, found.day, found.sidecar) == ("", "dock", "2024-05-06", sidecar)


@pytest.mark.parametrize("field, value, message", [
    ("category_id", True, "category_id must be a number, got true"),
    ("bbox", [True, 2, 3, 4], "bbox must be [x, y, width, height] numbers"),
    ("track_id", False, "track_id must be a number, got false"),
])
def test_coco_booleans_where_numbers_belong_are_refused(tmp_path, field, value, message):
    path = coco(tmp_path / "a.json", **{field: value})

    with pytest.raises(AnnotationFormatError, match=message.replace("[", r"\[")):
        read_annotations(path)


def test_a_truncated_parquet_partition_is_named_and_skipped_and_its_partition_ingested_again(tmp_path):
    lake, landing = Lake(str(tmp_path / "lake")), tmp_path / "landing"
    fake_video(landing / DAY / "v.mp4")
    row = {"source_name": "x.mp4", "source_size": 1, "source_mtime_ns": 1, "label_files": ""}
    for day in ("2024-01-01", "2024-01-02"):
        lake.write_table(keys.RAW_VIDEOS, pd.DataFrame([row]), {"scene": "cam-1", "day": day})
    broken = tmp_path / "lake" / keys.table_key(keys.RAW_VIDEOS, {"scene": "cam-1", "day": "2024-01-02"})
    broken.write_bytes(broken.read_bytes()[:40])

    everything = lake.read_tables(keys.RAW_VIDEOS)
    changes = landing_changes(lake, landing)

    assert everything["day"].tolist() == ["2024-01-01"]
    assert lake.unreadable_tables and "lake table" in lake.unreadable_tables[0]
    assert keys.table_key(keys.RAW_VIDEOS, {"scene": "cam-1", "day": "2024-01-02"}) in lake.unreadable_tables[0]
    assert [(c.scene, c.day) for c in changes.changed] == [("cam-1", "2024-01-02")]


def test_the_drop_report_tells_a_failed_import_from_a_partition_without_videos(tmp_path):
    from vision_assets.core.ingest import label_drop_report

    lake, landing = Lake(str(tmp_path / "lake")), tmp_path / "landing"
    for day in ("2024-01-02", "2024-01-03"):
        deep_json(landing / "annotations" / "cam-1" / day / "v.json")
    lake.write_table(keys.RAW_VIDEOS, pd.DataFrame([{"source_name": "v.mp4"}]), {"scene": "cam-1", "day": "2024-01-02"})

    fates = {Path(e["file"]).parent.name: (e["status"], e["detail"]) for e in label_drop_report(lake, landing)}

    assert fates["2024-01-02"][0] == "not imported" and "cam-1/2024-01-02" in fates["2024-01-02"][1]
    assert fates["2024-01-03"] == ("waiting", "no videos of its partition yet")


def test_a_truncated_video_index_is_rebuilt_from_the_partition_tables(tmp_path):
    from vision_assets.core.ingest.video_index import read_video_index

    lake = Lake(str(tmp_path / "lake"))
    row = {"source_name": "x.mp4", "video_sha256": "a" * 64, "outcome": "ok", "duplicate_of": "", "signature": "",
           "duration_s": 1.0, "source_size": 1, "source_mtime_ns": 1, "label_files": ""}
    lake.write_table(keys.RAW_VIDEOS, pd.DataFrame([row]), {"scene": "cam-1", "day": "2024-01-01"})
    read_video_index(lake)
    index = tmp_path / "lake" / keys.table_key(keys.VIDEO_INDEX, None)
    index.write_bytes(index.read_bytes()[:30])

    assert read_video_index(lake)["source_name"].tolist() == ["x.mp4"]
    assert "video_index" in lake.unreadable_tables[0] or keys.VIDEO_INDEX in lake.unreadable_tables[0]


def test_what_the_landing_sensor_evaluates_survives_every_bad_file_at_once(tmp_path):
    lake, landing = Lake(str(tmp_path / "lake")), tmp_path / "landing"
    fake_video(landing / DAY / "deep.mp4")
    deep_json(landing / DAY / "deep.json")
    fake_video(landing / DAY / "pipe.mp4")
    os.mkfifo(landing / DAY / "pipe.json")
    fake_video(landing / DAY / "typed.mp4")
    (landing / DAY / "typed.json").write_text('{"scene": true}')
    fake_video(landing / DAY / "fine.mp4")

    changes = finishes(landing_changes, lake, landing)

    assert [[f.path.name for f in c.fresh] for c in changes.changed] == [["fine.mp4"]]
    assert len(changes.refused) == 3 and all("sidecar" in reason for reason in changes.refused)
