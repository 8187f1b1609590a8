"""One module per annotation format, each reading into and writing from the canonical table (schema.py)."""

from vision_assets.core.labels.formats.coco import read_coco, write_coco
from vision_assets.core.labels.formats.common import AnnotationFormatError
from vision_assets.core.labels.formats.cvat_images import read_cvat_images, write_cvat_images
from vision_assets.core.labels.formats.cvat_video import read_cvat_video, write_cvat_video
from vision_assets.core.labels.formats.detect import detect_and_load, detect_format
from vision_assets.core.labels.formats.label_studio import read_label_studio, write_label_studio
from vision_assets.core.labels.formats.mot import MOT_CLASSES, read_mot, write_mot
from vision_assets.core.labels.formats.yolo import read_yolo, write_yolo

# Every reader is reader(path, *, image_size=None, data=None): image_size (w, h) converts normalised or percent
# boxes (yolo, label_studio), data is a JSON file's content when detection already loaded it (coco, label_studio);
# readers whose format needs neither ignore them.
READERS = {
    "coco": read_coco,
    "yolo": read_yolo,
    "cvat_video": read_cvat_video,
    "cvat_images": read_cvat_images,
    "mot": read_mot,
    "label_studio": read_label_studio,
}

WRITERS = {
    "coco": write_coco,
    "yolo": write_yolo,
    "cvat_video": write_cvat_video,
    "cvat_images": write_cvat_images,
    "mot": write_mot,
    "label_studio": write_label_studio,
}

FORMATS = tuple(READERS)

__all__ = ["FORMATS", "MOT_CLASSES", "READERS", "WRITERS", "AnnotationFormatError", "detect_and_load", "detect_format"]
