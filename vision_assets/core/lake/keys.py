"""Every name in the lake, in one place: tables, blob kinds and the keys of JSON records and folders.

Keys are lake-relative ("tables/raw_videos/scene=a/day=b/part-0.parquet"); records store keys, never absolute
paths, and `Lake.path(key)` / `Lake.uri(key)` turn them into a location under the configured root when read.
"""

from __future__ import annotations

from collections.abc import Mapping

# -- tables (hive-partitioned Parquet, one file per partition) --------------------------------------------
RAW_VIDEOS = "raw_videos"
SAMPLED_FRAMES = "sampled_frames"
ANNOTATIONS = "annotations"
ANNOTATION_VERSIONS = "annotation_versions"  # partitioned by scene, day and label_version
LABEL_SOURCES = "label_sources"
QC_ANNOTATIONS = "qc_annotations"
QC_REJECTED = "qc_rejected"
QC_FLAGGED = "qc_flagged"
QC_REVIEW = "qc_review"
QC_AGREEMENT = "qc_agreement"
QC_SUMMARY = "qc_summary"
DATASET_MANIFEST = "dataset_manifest"  # partitioned by version
DATASET_LABELS = "dataset_labels"  # partitioned by version
SPLIT_REGISTRY = "split_registry"  # partitioned by group_by
HARD_EXAMPLES = "hard_examples"
HARD_EXAMPLE_BOXES = "hard_example_boxes"
VIDEO_INDEX = "video_index"  # one lake-wide table: every partition's videos, hashes and signatures
EVAL_ERRORS = "eval_errors"  # partitioned by evaluation (the evaluation key): every error of one evaluation

# -- blob kinds (content-addressed, immutable) -------------------------------------------------------------
VIDEO_BLOBS = "videos"
FRAME_BLOBS = "frames"
LABEL_BLOBS = "labels"
CHECKPOINT_BLOBS = "checkpoints"
ERROR_BLOBS = "errors"  # crop/overlay JPEGs of evaluation errors
PREVIEW_BLOBS = "previews"  # full-size contact sheets and drawn queues that UI thumbnails point at

PARQUET_FILE = "part-0.parquet"
STAGING = "staging"


def partition_path(partition: Mapping[str, str]) -> str:
    return "/".join(f"{key}={value}" for key, value in partition.items())


def table_folder(table: str) -> str:
    return f"tables/{table}"


def table_key(table: str, partition: Mapping[str, str] | None = None) -> str:
    middle = partition_path(partition) if partition else ""
    return "/".join(p for p in (table_folder(table), middle, PARQUET_FILE) if p)


def blob_key(kind: str, digest: str, suffix: str) -> str:
    return f"blobs/{kind}/{digest[:2]}/{digest}{suffix}"


def quarantine_key(digest: str, suffix: str) -> str:
    """The quarantined bytes; the reason sits beside them as quarantine_reason_key(digest)."""
    return f"quarantine/{digest}{suffix}"


def quarantine_reason_key(digest: str) -> str:
    return f"quarantine/{digest}.json"


# -- dataset versions ----------------------------------------------------------------------------------------
LATEST_DATASET = "datasets/latest.json"


def dataset_folder(version: str) -> str:
    return f"datasets/{version}"


def dataset_record_key(version: str) -> str:
    return f"{dataset_folder(version)}/dataset.json"


def dataset_yolo_folder(version: str) -> str:
    return f"{dataset_folder(version)}/yolo"


# -- training, evaluation, mining ------------------------------------------------------------------------------
def checkpoint_record_key(fingerprint: str) -> str:
    return f"checkpoints/{fingerprint}.json"


def environment_lock_key(lock_sha256: str) -> str:
    """A training environment's distribution lock (`name==version` lines), stored once by its hash."""
    return f"environments/{lock_sha256}.lock"


def sweep_record_key(sweep_id: str) -> str:
    return f"sweeps/{sweep_id}.json"


def report_folder(checkpoint_sha256: str) -> str:
    return f"reports/{checkpoint_sha256[:16]}"


def evaluation_folder(evaluation_key: str) -> str:
    """One evaluation (checkpoint x test split x evaluation config): its report, plots and replays."""
    return f"evaluations/{evaluation_key}"


def evaluation_record_key(evaluation_key: str) -> str:
    return f"{evaluation_folder(evaluation_key)}/eval.json"


def mined_marker_key(scene: str, day: str) -> str:
    return f"mining/{partition_path({'scene': scene, 'day': day})}.json"


def preview_record_key(scene: str, day: str) -> str:
    """The preview blobs (contact sheets, drawn queues) made from one partition's frames: what a forget removes."""
    return f"previews/{partition_path({'scene': scene, 'day': day})}.json"


def labeling_queue_folder(scene: str, day: str, champion_version: str) -> str:
    return f"labeling_queue/{partition_path({'scene': scene, 'day': day})}/champion=v{champion_version}"


def asset_record_key(asset_path: list[str] | tuple[str, ...]) -> str:
    """The small JSON record an unpartitioned asset hands to its downstream assets."""
    return f"assets/{'/'.join(asset_path)}.json"


# -- monitoring after delivery -------------------------------------------------------------------------------
FOOTAGE_MONITORING = "footage_monitoring"  # one summary row per scene x day: image, prediction, drift and shadow


def monitoring_baseline_key(checkpoint_sha256: str) -> str:
    """A champion's reference sample (pooled backbone features and detections per frame of its training split)."""
    return f"monitoring/baselines/{checkpoint_sha256}.npz"


def monitoring_page_key(model_name: str, version: str | int) -> str:
    """The monitoring page of a model version (drift, detection rate and shadow disagreement per scene over days)."""
    return f"monitoring/{model_name}/v{version}/drift.html"
