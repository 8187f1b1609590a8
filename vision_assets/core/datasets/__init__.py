"""Datasets: splits by video or scene (sticky across versions), immutable versions, the Ultralytics export."""

from vision_assets.core.datasets.build import (
    MANIFEST_COLUMNS,
    DatasetBuild,
    NotEnoughGroups,
    build_dataset_version,
    build_manifest,
    dataset_version,
    gather_labelled_frames,
    latest_dataset,
    new_label_count,
)
from vision_assets.core.datasets.export import export_yolo, local_data_yaml, publish_dataset
from vision_assets.core.datasets.splits import (
    SPLITS,
    SplitConfig,
    assign_splits,
    groups_crossing_splits,
    read_split_registry,
    record_splits,
    split_counts,
    split_problems,
)

__all__ = ["MANIFEST_COLUMNS", "SPLITS", "DatasetBuild", "NotEnoughGroups", "SplitConfig", "assign_splits",
           "build_dataset_version", "build_manifest", "dataset_version", "export_yolo", "local_data_yaml", "gather_labelled_frames",
           "groups_crossing_splits", "latest_dataset", "new_label_count", "publish_dataset", "read_split_registry",
           "record_splits", "split_counts", "split_problems"]
