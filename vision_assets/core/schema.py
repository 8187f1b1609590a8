"""Column contracts of the lake's tables, shared by producers and consumers."""

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
]
