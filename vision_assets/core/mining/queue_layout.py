"""Constants of the labeling queue that the Dagster layer needs when the code location loads, kept apart from the
mining code (numpy, pandas, Ultralytics) so that loading it stays cheap."""

# Boxes below this are left out of the pre-annotations: at lower confidence most are noise a labeler would only
# delete (Ultralytics predicts at 0.25 by default). Mining itself still scores every detection from 0.05 up.
PREANNOTATION_MIN_SCORE = 0.25
COCO_FILE = "annotations/instances_default.json"  # Datumaro's COCO layout (subset "default"), beside images/
