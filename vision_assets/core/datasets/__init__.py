"""datasets"""

from vision_assets.core.datasets.build import (
    SplitConfig,
    assign_splits,
    build_manifest,
    dataset_version,
    export_yolo,
    gather_labelled_frames,
    groups_crossing_splits,
    publish_dataset,
    read_split_registry,
    record_splits,
    split_problems,
)

__all__ = [
    "SplitConfig",
    "assign_splits",
    "build_manifest",
    "dataset_version",
    "export_yolo",
    "gather_labelled_frames",
    "groups_crossing_splits",
    "publish_dataset",
    "read_split_registry",
    "record_splits",
    "split_problems",
]
