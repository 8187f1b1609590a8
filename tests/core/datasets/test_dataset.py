"""Dataset versions: splits by video that never leak, stay put across versions, and export for Ultralytics."""

from __future__ import annotations

import os

import pandas as pd

from vision_assets.core.datasets import (
    SplitConfig,
    assign_splits,
    build_manifest,
    dataset_version,
    export_yolo,
    groups_crossing_splits,
)


def frames_table(videos_per_scene: dict[str, int], frames_per_video: int = 5) -> pd.DataFrame:
    rows = []
    for scene, count in videos_per_scene.items():
        for v in range(count):
            for f in range(frames_per_video):
                rows.append({"frame_sha256": f"{scene}{v}{f}".ljust(64, "0"), "video_sha256": f"{scene}-video-{v}",
                             "frame_index": f * 10, "scene": scene, "day": "2024-01-01", "width": 100, "height": 50,
                             "image_path": f"/lake/{scene}{v}{f}.jpg", "lighting": "day", "label_version": "lv1"})
    return pd.DataFrame(rows)


def labels_for(frames: pd.DataFrame) -> pd.DataFrame:
    first = frames.groupby("video_sha256").first().reset_index()
    return pd.DataFrame({"video_sha256": first["video_sha256"], "frame_index": first["frame_index"],
                         "class_name": "car", "x1": 10.0, "y1": 5.0, "x2": 30.0, "y2": 25.0})


def test_every_frame_of_a_video_lands_in_the_same_split_and_each_scene_has_test_footage():
    frames = frames_table({"a": 4, "b": 4, "c": 4})
    manifest = build_manifest(frames, labels_for(frames), SplitConfig())
    assert groups_crossing_splits(manifest) == []
    assert set(manifest["split"]) == {"train", "val", "test"}
    tested = manifest[manifest["split"] == "test"].groupby("scene")["video_sha256"].nunique()
    assert set(tested.index) == {"a", "b", "c"}
    assert manifest["n_boxes"].sum() == 12


def test_a_manifest_that_mixes_a_video_across_splits_is_caught():
    frames = frames_table({"a": 3})
    manifest = build_manifest(frames, labels_for(frames), SplitConfig())
    manifest.loc[0, "split"] = "test" if manifest.loc[0, "split"] != "test" else "train"
    assert groups_crossing_splits(manifest) == [manifest.loc[0, "video_sha256"]]


def test_assignments_are_sticky_when_new_videos_arrive():
    config = SplitConfig()
    old = [f"video-{i}" for i in range(10)]
    first = assign_splits(old, config)
    second = assign_splits(old + [f"video-{i}" for i in range(10, 30)], config, previous=first)
    assert {g: second[g] for g in old} == first
    assert assign_splits(old, config) == first  # deterministic


def test_grouping_by_scene_keeps_whole_scenes_together():
    frames = frames_table({"a": 2, "b": 2, "c": 2, "d": 2})
    manifest = build_manifest(frames, labels_for(frames), SplitConfig(group_by="scene"))
    assert groups_crossing_splits(manifest, "scene") == []
    assert manifest.groupby("split")["scene"].nunique().sum() == 4


def test_version_is_a_content_hash():
    frames = frames_table({"a": 3})
    labels = labels_for(frames)
    manifest = build_manifest(frames, labels, SplitConfig())
    version = dataset_version(manifest, labels, ["car"], SplitConfig())
    assert version == dataset_version(manifest.sample(frac=1, random_state=1), labels.iloc[::-1], ["car"], SplitConfig())
    moved = labels.assign(x2=labels["x2"] + 1)
    assert dataset_version(manifest, moved, ["car"], SplitConfig()) != version
    assert dataset_version(manifest, labels, ["car", "bus"], SplitConfig()) != version


def test_yolo_export_links_images_and_writes_normalised_labels(tmp_path):
    frames = frames_table({"a": 3}, frames_per_video=2)
    images = tmp_path / "lake"
    images.mkdir()
    frames["image_path"] = [str(images / f"{i}.jpg") for i in range(len(frames))]
    for path in frames["image_path"]:
        open(path, "wb").write(b"jpeg")
    labels = labels_for(frames)
    manifest = build_manifest(frames, labels, SplitConfig())

    data_yaml = export_yolo(manifest, labels, ["car", "bus"], tmp_path / "export")

    text = data_yaml.read_text()
    assert "train: train.txt" in text and "  1: bus" in text
    listed = [line for split in ("train", "val", "test") for line in (tmp_path / "export" / f"{split}.txt").read_text().split()]
    assert len(listed) == len(manifest)
    for image in listed:  # "./images/..." relative to the list, as Ultralytics reads it; the links are relative too
        link = tmp_path / "export" / image
        assert os.path.islink(link) and "/images/" in image and not os.path.isabs(os.readlink(link))
        assert link.resolve().read_bytes() == b"jpeg"
    labelled = manifest[manifest["n_boxes"] > 0].iloc[0]
    label_file = tmp_path / "export" / "labels" / labelled["split"] / f"{labelled['sample_id']}.txt"
    assert label_file.read_text() == "0 0.200000 0.300000 0.200000 0.400000\n"
    assert not list(tmp_path.glob(".*partial"))


def test_small_datasets_still_get_every_split_and_test_footage_per_scene():
    for per_scene in ({"a": 2, "b": 2}, {"a": 3}, {"a": 2, "b": 1, "c": 1}):
        frames = frames_table(per_scene)
        manifest = build_manifest(frames, labels_for(frames), SplitConfig())
        assert set(manifest["split"]) == {"train", "val", "test"}, per_scene
        tested = set(manifest.loc[manifest["split"] == "test", "scene"])
        assert {s for s, n in per_scene.items() if n >= 2} <= tested, per_scene


def test_a_re_encode_shares_the_split_of_the_footage_it_copies():
    frames = frames_table({"a": 12})
    alone = build_manifest(frames, labels_for(frames), SplitConfig()).groupby("video_sha256")["split"].first()
    assert (alone["a-video-4"], alone["a-video-0"]) == ("test", "train")  # on their own they would part
    # Video 4 is a re-encode of video 0: one split group, so one split for the frames of both.
    frames["split_group"] = frames["video_sha256"].where(frames["video_sha256"] != "a-video-4", "a-video-0")
    manifest = build_manifest(frames, labels_for(frames), SplitConfig())
    splits = manifest.groupby("video_sha256")["split"].first()
    assert splits["a-video-4"] == splits["a-video-0"]
    assert groups_crossing_splits(manifest, "split_group") == [] and "test" in set(splits)


def test_gathering_keeps_frames_that_lost_only_a_duplicate_and_one_annotator_per_double_labelled_frame(tmp_path):
    from vision_assets.core.datasets import gather_labelled_frames
    from vision_assets.core.lake import Lake

    lake = Lake(str(tmp_path / "lake"))
    part = {"scene": "a", "day": "2024-01-01"}
    frames = frames_table({"a": 1}, frames_per_video=3).drop(columns=["label_version"])
    lake.write_table("sampled_frames", frames.drop(columns=["scene", "day"]), part)
    box = {"video_sha256": "a-video-0", "class_name": "car", "x1": 10.0, "y1": 5.0, "x2": 30.0, "y2": 25.0}
    kept = pd.DataFrame([{**box, "frame_index": 0, "annotator": "ann"},
                         {**box, "frame_index": 10, "annotator": "bob"}, {**box, "frame_index": 10, "annotator": "ann"},
                         {**box, "frame_index": 20, "annotator": "ann"}])
    rejected = pd.DataFrame([{**box, "frame_index": 0, "annotator": "ann", "reasons": "duplicate_box"},
                             {**box, "frame_index": 20, "annotator": "ann", "reasons": "box_outside_image"}])
    lake.write_table("qc_annotations", kept.assign(label_version="lv1"), part)
    lake.write_table("qc_rejected", rejected.assign(label_version="lv1"), part)
    lake.write_table("qc_summary", pd.DataFrame([{"label_version": "lv1", "kept": 4, "rejected": 2, "pass_rate": 0.67,
                                                  "min_pass_rate": 0.5, "passed": True}]), part)

    frames_out, labels, report = gather_labelled_frames(lake, ["car"])

    # Frame 0 lost only a duplicate: kept. Frame 20 lost a real box: its labels are incomplete, left out.
    assert sorted(frames_out["frame_index"]) == [0, 10] and report["frames_dropped_by_qc"] == 1
    # Frame 10 was labelled by ann and bob: training sees ann's box only.
    assert labels[labels["frame_index"] == 10]["annotator"].tolist() == ["ann"]


def test_gathered_frames_carry_the_split_group_of_the_footage_they_re_encode(tmp_path):
    from vision_assets.core.datasets import gather_labelled_frames
    from vision_assets.core.lake import Lake

    lake = Lake(str(tmp_path / "lake"))
    part = {"scene": "a", "day": "2024-01-01"}
    frames = frames_table({"a": 3}, frames_per_video=1).drop(columns=["label_version"])
    lake.write_table("sampled_frames", frames.drop(columns=["scene", "day"]), part)
    lake.write_table("raw_videos", pd.DataFrame({  # video 2 re-encodes video 1, which re-encodes video 0
        "video_sha256": ["a-video-0", "a-video-1", "a-video-2"], "near_duplicate_sha256": ["", "a-video-0", "a-video-1"]}),
        part)
    kept = labels_for(frames).assign(annotator="ann", label_version="lv1")
    lake.write_table("qc_annotations", kept, part)
    lake.write_table("qc_summary", pd.DataFrame([{"label_version": "lv1", "kept": 3, "rejected": 0, "pass_rate": 1.0,
                                                  "min_pass_rate": 0.5, "passed": True}]), part)

    frames_out, _, _ = gather_labelled_frames(lake, ["car"])

    assert set(frames_out["split_group"]) == {"a-video-0"}
