"""Datasets: splits by video or scene (sticky across versions), immutable versions, the Ultralytics export.

Names load on first use (PEP 562): importing one of them imports only its submodule."""

from vision_assets.lazy import lazy_exports

_EXPORTS = {
    "MANIFEST_COLUMNS": "build",
    "DatasetBuild": "build",
    "NotEnoughGroups": "build",
    "build_dataset_version": "build",
    "build_manifest": "build",
    "dataset_version": "build",
    "gather_labelled_frames": "build",
    "latest_dataset": "build",
    "new_label_count": "build",
    "export_yolo": "export",
    "local_data_yaml": "export",
    "publish_dataset": "export",
    "SPLITS": "splits",
    "SplitConfig": "splits",
    "assign_splits": "splits",
    "groups_crossing_splits": "splits",
    "read_split_registry": "splits",
    "record_splits": "splits",
    "split_counts": "splits",
    "split_problems": "splits",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
