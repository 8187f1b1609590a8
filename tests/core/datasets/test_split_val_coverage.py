"""Val gets the per-scene coverage test has: model selection sees every camera with enough footage."""

from __future__ import annotations

from test_dataset import frames_table, labels_for

from vision_assets.core.datasets import SplitConfig, assign_splits, build_manifest, groups_crossing_splits


def test_every_scene_with_three_or_more_videos_has_val_test_and_train_footage():
    for per_scene in ({"a": 4, "b": 4, "c": 4}, {"a": 3, "b": 5}, {"a": 6, "b": 3, "c": 2}):
        frames = frames_table(per_scene)
        manifest = build_manifest(frames, labels_for(frames), SplitConfig())
        assert groups_crossing_splits(manifest) == []
        for scene, videos in per_scene.items():
            splits = set(manifest.loc[manifest["scene"] == scene, "split"])
            wanted = {"train", "val", "test"} if videos >= 3 else {"test"}
            assert wanted <= splits, (per_scene, scene, splits)


def test_val_repair_moves_only_new_videos():
    config = SplitConfig()
    old = {f"a-{i}": "train" for i in range(3)}  # an earlier version put all of scene a in train
    groups = [*old, "a-new-1", "a-new-2"]
    strata = {g: "a" for g in groups}
    assignment = assign_splits(groups, config, previous=old, strata=strata)
    assert {g: assignment[g] for g in old} == old
    assert {assignment["a-new-1"], assignment["a-new-2"]} == {"val", "test"}
