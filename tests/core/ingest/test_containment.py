"""Nothing outside the landing zone is read or stored: real symlinks, hidden names and stray files in the landing
zone and the label drop zone are refused with their reason, never followed or skipped silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vision_assets.core.ingest import label_files_for, scan_label_drop_zone, scan_landing
from vision_assets.core.labels.canonical import AnnotationFormatError, read_annotations

SECRET = "token-7f3a9c-outside-the-landing-zone"
DAY = "cam-1/2024-01-02"


def fake_video(path: Path) -> Path:
    """The scan never decodes; any bytes with a video suffix stand for a video here."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + path.name.encode())
    return path


@pytest.fixture
def zones(tmp_path):
    landing, outside = tmp_path / "landing", tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"root:x:0:0:{SECRET}\n")
    (outside / "secret.json").write_text(json.dumps({"device": SECRET}))
    return landing, outside


def refusals(landing: Path) -> dict[str, str]:
    return {f.landing_key: f.refused for f in scan_landing(landing) if f.refused}


def test_a_symlinked_sidecar_refuses_its_video_and_its_content_is_never_read(zones):
    landing, outside = zones
    video = fake_video(landing / DAY / "v.mp4")
    (landing / DAY / "v.json").symlink_to(outside / "secret.json")

    [landed] = [f for f in scan_landing(landing) if f.path == video]

    assert "sidecar v.json is a symbolic link" in landed.refused
    assert landed.sidecar == {} and SECRET not in landed.refused


def test_a_symlinked_label_file_beside_a_video_is_refused_and_not_attached(zones):
    landing, outside = zones
    video = fake_video(landing / DAY / "v.mp4")
    other = landing / "cam-2" / "2024-01-02"
    other.mkdir(parents=True)
    (other / "labels.xml").write_text("<annotations/>")
    (landing / DAY / "v.xml").symlink_to(other / "labels.xml")
    (landing / DAY / "v.txt").symlink_to(outside / "secret.txt")

    found = refusals(landing)

    assert label_files_for(video) == []
    assert "label file is a symbolic link" in found[f"{DAY}/v.xml"]
    assert "label file is a symbolic link" in found[f"{DAY}/v.txt"]
    assert all(SECRET not in reason for reason in found.values())


def test_linked_folders_hidden_names_and_stray_files_are_listed_as_refused(zones):
    landing, outside = zones
    fake_video(landing / DAY / "ok.mp4")
    fake_video(outside / "2024-01-03" / "elsewhere.mp4")
    (landing / "cam-9").symlink_to(outside)  # a linked scene folder
    (landing / "cam-1" / "2024-01-05").symlink_to(outside / "2024-01-03")  # a linked day folder
    fake_video(landing / DAY / ".hidden.mp4")
    (landing / ".DS_Store").write_text("x")
    (landing / DAY / "notes.pdf").write_text("x")
    (landing / DAY / "lonely.xml").write_text("<annotations/>")
    (landing / DAY / "escape.mp4").symlink_to(outside / "2024-01-03" / "elsewhere.mp4")

    found = refusals(landing)
    accepted = [f.landing_key for f in scan_landing(landing) if not f.refused]

    assert accepted == [f"{DAY}/ok.mp4"]
    assert "symbolic link to a folder" in found["cam-9"]
    assert "symbolic link to a folder" in found["cam-1/2024-01-05"]
    assert "hidden name" in found[f"{DAY}/.hidden.mp4"] and "hidden name" in found[".DS_Store"]
    assert "not a video" in found[f"{DAY}/notes.pdf"]
    assert "no video of this name beside it" in found[f"{DAY}/lonely.xml"]
    assert "outside the landing zone" in found[f"{DAY}/escape.mp4"]


def test_every_file_of_a_drop_zone_label_folder_must_lie_inside_it(zones):
    landing, outside = zones
    day = landing / "annotations" / DAY
    good = day / "good.mp4"
    (good / "labels").mkdir(parents=True)
    (good / "labels" / "frame_000001.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    linked = day / "linked.mp4"
    (linked / "labels").mkdir(parents=True)
    (linked / "labels" / "frame_000001.txt").symlink_to("/etc/passwd")
    (day / "file.json").symlink_to(outside / "secret.json")
    (day / ".partial.json").write_text("{}")
    (landing / "annotations" / "cam-7").symlink_to(outside)

    entries = {e.path.name: e for e in scan_label_drop_zone(landing)}

    assert entries["good.mp4"].refused == "" and entries["good.mp4"].video_stem == "good.mp4"
    assert "labels/frame_000001.txt is a symbolic link" in entries["linked.mp4"].refused
    assert "symbolic link" in entries["file.json"].refused
    assert "hidden name" in entries[".partial.json"].refused
    assert "symbolic link" in entries["cam-7"].refused


def test_a_data_yaml_that_points_outside_its_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "labels"
    elsewhere.mkdir(parents=True)
    (elsewhere / "frame_000001.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    dataset = tmp_path / "zone" / "a" / "b" / "set"
    (dataset / "labels").mkdir(parents=True)
    (dataset / "data.yaml").write_text("path: ../../..\ntrain: elsewhere/images\nnames: [car]\n")

    with pytest.raises(AnnotationFormatError, match="resolves outside the dataset folder"):
        read_annotations(dataset, "yolo", image_size=(100, 100))


def test_a_label_txt_linked_from_outside_a_yolo_folder_is_refused(tmp_path):
    dataset = tmp_path / "set"
    (dataset / "labels").mkdir(parents=True)
    (dataset / "data.yaml").write_text("train: images\nnames: [car]\n")
    outside = tmp_path / "frame_000002.txt"
    outside.write_text("0 0.5 0.5 0.1 0.1\n")
    (dataset / "labels" / "frame_000002.txt").symlink_to(outside)

    with pytest.raises(AnnotationFormatError, match="outside the dataset folder"):
        read_annotations(dataset, "yolo", image_size=(100, 100))


def test_an_unrecognised_txt_never_quotes_its_content(tmp_path):
    text = tmp_path / "v.txt"
    text.write_text(f"root:x:0:0:{SECRET}:/root:/bin/bash\n")

    with pytest.raises(AnnotationFormatError) as error:
        read_annotations(text)

    assert "unrecognised annotation format" in str(error.value) and SECRET not in str(error.value)
    assert "root:x" not in str(error.value)


@pytest.mark.parametrize("content", [
    "1,1,10,10,5,5,1,1,1\n2,1,root:x:0:{secret},10,5,5,1,1,1\n",  # MOT first line, then text
    "0 0.5 0.5 0.1 0.1\n0 root:x:0:{secret}\n",  # YOLO first line, then text
])
def test_a_label_file_turning_into_text_never_quotes_it(tmp_path, content):
    path = tmp_path / "frame_000001.txt"
    path.write_text(content.format(secret=SECRET))

    with pytest.raises(AnnotationFormatError) as error:
        read_annotations(path, image_size=(100, 100))

    assert SECRET not in str(error.value) and "root:x" not in str(error.value)
