"""Column contracts of the lake's tables, shared by producers and consumers."""

# The classes the platform detects until a deployment configures its own (TaxonomyResource).
DEFAULT_TAXONOMY = ("car", "pedestrian", "cyclist")

# One row per labelled box, whatever format it came from.
ANNOTATION_COLUMNS = [
    "video_sha256",  # content hash of the video the label belongs to ("" until attached)
    "frame_index",  # 0-based decoded frame index in that video
    "class_name",
    "x1",  # box corners in pixels, top-left origin
    "y1",
    "x2",
    "y2",
    "track_id",  # -1 when the format has no tracks
    "occluded",
    "attributes",  # JSON object as text
    "annotator",
    "source_file",
    "source_id",  # id of the row in its source format (COCO ann id, MOT line number, CVAT track:frame)
    "source_format",  # coco | yolo | cvat_video | cvat_images | mot | label_studio
    "image_name",  # the image file the source names for this frame ("" for video formats)
    "class_id",  # the numeric class id the source used (-1 when the format names classes)
    "declared_area",  # the area the source declares for the object (COCO "area"), NaN when none
    "file_findings",  # ";"-joined problems the importer found in the file as a whole (e.g. a data yaml's absolute path)
]

ANNOTATION_DTYPES = {
    "video_sha256": "str",
    "frame_index": "int64",
    "class_name": "str",
    "x1": "float64",
    "y1": "float64",
    "x2": "float64",
    "y2": "float64",
    "track_id": "int64",
    "occluded": "bool",
    "attributes": "str",
    "annotator": "str",
    "source_file": "str",
    "source_id": "str",
    "source_format": "str",
    "image_name": "str",
    "class_id": "int64",
    "declared_area": "float64",
    "file_findings": "str",
}

# Filled in when a format has nothing to say about a column.
ANNOTATION_DEFAULTS = {
    "video_sha256": "", "track_id": -1, "occluded": False, "attributes": "{}", "annotator": "", "source_id": "",
    "source_format": "", "image_name": "", "class_id": -1, "declared_area": float("nan"), "file_findings": "",
}
