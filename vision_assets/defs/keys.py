"""The contract: the nine asset keys and every check name, defined once. Renaming any of them breaks users'
bookmarks, run history and automation, so they change only here and only on purpose."""

import dagster as dg

RAW_VIDEOS = dg.AssetKey("raw_videos")
SAMPLED_FRAMES = dg.AssetKey("sampled_frames")
ANNOTATIONS = dg.AssetKey("annotations")
QC_ANNOTATIONS = dg.AssetKey("qc_annotations")
DATASET_SPLIT = dg.AssetKey("dataset_split")
TRAINED_CHECKPOINT = dg.AssetKey("trained_checkpoint")
EVAL_REPORT = dg.AssetKey("eval_report")
REGISTERED_MODEL = dg.AssetKey("registered_model")
HARD_EXAMPLES = dg.AssetKey("hard_examples")
FOOTAGE_MONITORING = dg.AssetKey("footage_monitoring")  # issue 22: added after the original nine

ASSET_KEYS = (RAW_VIDEOS, SAMPLED_FRAMES, ANNOTATIONS, QC_ANNOTATIONS, DATASET_SPLIT, TRAINED_CHECKPOINT, EVAL_REPORT,
              REGISTERED_MODEL, HARD_EXAMPLES, FOOTAGE_MONITORING)

# raw_videos
VIDEOS_DECODABLE = "videos_decodable"
NO_DUPLICATE_FOOTAGE = "no_duplicate_footage"
# annotations
LABEL_FILES_READABLE = "label_files_readable"
LABEL_FILES_MATCHED = "label_files_matched"
VIDEOS_LABELLED = "videos_labelled"
CANONICAL_TABLE_EXPECTATIONS = "canonical_table_expectations"
# qc_annotations
QC_PASS_RATE = "qc_pass_rate"
QC_WARNINGS = "qc_warnings"
ANNOTATOR_AGREEMENT = "annotator_agreement"
KEPT_ROWS_MEET_EXPECTATIONS = "kept_rows_meet_expectations"
# dataset_split
NO_VIDEO_IN_TWO_SPLITS = "no_video_in_two_splits"
SPLITS_NOT_EMPTY = "splits_not_empty"
# registered_model
EVALUATION_FLOOR = "evaluation_floor"
REGISTRY_CONSISTENT = "registry_consistent"
# footage_monitoring
FOOTAGE_IN_DISTRIBUTION = "footage_in_distribution"
PREDICTIONS_STABLE = "predictions_stable"
ONLINE_ACCURACY_ABOVE_FLOOR = "online_accuracy_above_floor"

# What a user thinks in: footage to QC'd labels, dataset to registered model, and what the model sends back.
DATA_GROUP = "data"
MODEL_GROUP = "model"
FEEDBACK_GROUP = "feedback"
