"""What a person sees of a labelling queue before opening a tool: the queued frames with the champion's boxes."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from vision_assets.core.labels.formats.common import attribute_values
from vision_assets.core.preview import contact_sheet, decode_jpeg, draw_boxes, encode_jpeg


def queue_sheet(read_bytes: Callable[[str], bytes], ranked: pd.DataFrame, boxes: pd.DataFrame,
                video_names: dict[str, str], *, at_most: int = 12) -> bytes | None:
    """A JPEG grid of the most uncertain queued frames (ranked's order), the champion's boxes drawn with class and
    score, each captioned with its video's file name, frame number and uncertainty. None when nothing is queued."""
    if ranked.empty:
        return None
    top = ranked.head(at_most)
    by_frame = {key: group for key, group in boxes.groupby(["video_sha256", "frame_index"])} if len(boxes) else {}
    images, captions = [], []
    for row in top.itertuples(index=False):
        frame_boxes = by_frame.get((row.video_sha256, row.frame_index))
        drawn = [] if frame_boxes is None else [
            (b.x1, b.y1, b.x2, b.y2, f"{b.class_name} {attribute_values(b.attributes).get('score', 0):.2f}")
            for b in frame_boxes.itertuples(index=False)]
        images.append(draw_boxes(decode_jpeg(read_bytes(row.image_path)), drawn))
        captions.append(f"{video_names.get(row.video_sha256, row.video_sha256[:12])} #{row.frame_index} "
                        f"u={row.uncertainty:.2f}")
    return encode_jpeg(contact_sheet(images, captions, columns=4, cell_width=320), 85)


def opening_instructions(queue_folder: str, label_studio_url_kind: str) -> str:
    """Markdown: how to open the queue in Label Studio and in CVAT."""
    media = {
        "local-files": "Label Studio started with `LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true` and "
                       "`LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<lake root>` serves the queue's H.264 videos "
                       "(`videos/`) from a Local Storage the push creates",
        "base-url": "the tasks name videos under the configured media base URL (`VISION_LABEL_STUDIO_MEDIA_URL`)",
        "object-store": "connect the lake's bucket as a Label Studio cloud storage (tasks name videos by URI)",
    }[label_studio_url_kind]
    scene_day = queue_folder.split("/")[1:3]
    scene, day = (part.split("=", 1)[-1] for part in scene_day) if len(scene_day) == 2 else ("SCENE", "DAY")
    return "\n".join([
        "#### Open the queue",
        "",
        f"Folder (lake key): `{queue_folder}`",
        "",
        f"- **Label Studio**: `vision-assets labelstudio push {scene} {day}` creates the project (labelling config "
        f"with the classes and the video's frame rate, one task per video, the champion's boxes as predictions; "
        f"`LABEL_STUDIO_URL`, `LABEL_STUDIO_API_KEY`); {media}. Label, then `vision-assets labelstudio pull "
        f"{scene} {day}` imports the finished annotations as a new label version.",
        "- **CVAT**: create a task from `videos/<video sha256>.mp4` and upload `cvat_images/<video sha256>.xml` as "
        "*CVAT for images 1.1* (frames are named as CVAT names a video task's frames); or an image task from "
        "`images/` with `annotations/instances_default.json` as *COCO 1.0*.",
    ])
