"""Mining one scene x day with the champion, and the labelling queue it leaves in the lake.

The queue folder is self-contained for image tools: the queued frames' JPEGs are copied beside the import files and
the files name them relative to the folder, so CVAT, a COCO tool (or datumaro) imports it wherever the folder is.
Label Studio's video tasks name the video as a URL Label Studio serves (see video_urls).
"""

from __future__ import annotations

import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vision_assets.core.labels import empty_annotations
from vision_assets.core.lake import Lake, keys
from vision_assets.core.mining.hard_examples import mine_hard_examples, queue_annotations, write_labeling_queue
from vision_assets.core.sampling import FRAME_COLUMNS, frames_version, sampling_source

QUEUE_IMAGES = "images"


@dataclass(frozen=True)
class MinedPartition:
    ranked: pd.DataFrame  # the queued frames, most uncertain first (image_path: lake key)
    boxes: pd.DataFrame  # the champion's boxes on them as canonical rows (pre-annotations)
    frames_scored: int
    queue_folder: str  # lake key of the partition's queue under this champion
    queue_files: dict[str, str]  # import file name -> lake key


def mine_partition(lake: Lake, scene: str, day: str, weights: Path, champion_version: str, class_names: list[str], *,
                   imgsz: int, top_k: int, min_score: float, work_dir: Path, device: str = "auto",
                   media_base_url: str | None = None) -> MinedPartition:
    partition = {"scene": scene, "day": day}
    frames = lake.read_table(keys.SAMPLED_FRAMES, partition)
    if frames is None or frames.empty:  # e.g. every video of the partition was quarantined: an answer too
        frames = pd.DataFrame(columns=FRAME_COLUMNS)
        ranked, boxes = frames.assign(uncertainty=[], detections=[], max_confidence=[]), empty_annotations()
    else:
        ranked, boxes = _score(lake, frames, weights, champion_version, imgsz=imgsz, top_k=top_k,
                               min_score=min_score, work_dir=work_dir, device=device)
    lake.write_table(keys.HARD_EXAMPLES, ranked.assign(champion_version=champion_version), partition)
    lake.write_table(keys.HARD_EXAMPLE_BOXES, boxes, partition)
    folder = keys.labeling_queue_folder(scene, day, champion_version)
    videos = lake.read_table(keys.RAW_VIDEOS, partition)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        queued = _copy_queue_images(lake, ranked, Path(tmp))
        files = write_labeling_queue(boxes, queued, Path(tmp), class_names,
                                     video_urls=video_urls(lake, videos, media_base_url), videos=_timing(videos))
        files.update({f"{QUEUE_IMAGES}/{Path(p).name}": Path(tmp) / p for p in queued["image_path"]})
        published = publish_queue(lake, folder, files)
    # The marker last: a partition whose export failed is mined again.
    lake.write_json(keys.mined_marker_key(scene, day), {"champion_version": champion_version,
                                                        "frames_version": frames_version(frames),
                                                        "frames_scored": len(frames)})
    return MinedPartition(ranked, boxes, len(frames), folder, published)


def _score(lake: Lake, frames: pd.DataFrame, weights: Path, champion_version: str, *, imgsz: int, top_k: int,
           min_score: float, work_dir: Path, device: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model reads local files; the tables keep lake keys."""
    local = {str(lake.local_copy(key, work_dir / "frames")): key for key in frames["image_path"]}
    by_key = {key: path for path, key in local.items()}
    ranked, detections = mine_hard_examples(weights, frames.assign(image_path=frames["image_path"].map(by_key)),
                                            work_dir=work_dir, imgsz=imgsz, top_k=top_k, device=device)
    ranked = ranked.assign(image_path=ranked["image_path"].map(local))
    detections = detections.assign(image_path=detections["image_path"].map(local))
    return ranked, queue_annotations(ranked, detections, champion_version, min_score=min_score)


def _copy_queue_images(lake: Lake, ranked: pd.DataFrame, out_dir: Path) -> pd.DataFrame:
    """The queued frames with image_path relative to the queue folder, their JPEGs copied there."""
    (out_dir / QUEUE_IMAGES).mkdir(parents=True, exist_ok=True)
    relative = []
    for key in ranked["image_path"]:
        name = f"{QUEUE_IMAGES}/{Path(key).name}"
        (out_dir / name).write_bytes(lake.fs.cat_file(lake.resolve(key)))
        relative.append(name)
    return ranked.assign(image_path=relative)


LOCAL_FILES_URL = "/data/local-files/?d="  # Label Studio's local-files serving, relative to its document root


def video_urls(lake: Lake, videos: pd.DataFrame | None, media_base_url: str | None = None) -> dict[str, str]:
    """Per video, the file its frames were sampled from as a URL Label Studio loads (frame numbers in the queue
    refer to that file): under media_base_url when given (a web server or bucket URL in front of the lake), else on
    a local lake Label Studio's local-files URL of the lake key (start Label Studio with
    LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<lake root>), and on
    an object store the object's URI (served through Label Studio's cloud storage)."""
    urls = {}
    for video in [] if videos is None else videos.to_dict("records"):
        key = sampling_source(video)
        if media_base_url:
            urls[video["video_sha256"]] = f"{media_base_url.rstrip('/')}/{urllib.parse.quote(key)}"
        elif lake.is_local:
            urls[video["video_sha256"]] = LOCAL_FILES_URL + urllib.parse.quote(key, safe="/")
        else:
            urls[video["video_sha256"]] = lake.fs.unstrip_protocol(lake.resolve(key))
    return urls


def _timing(videos: pd.DataFrame | None) -> pd.DataFrame | None:
    """Per video, the real decoded frame count and fps of the file the queue's frame numbers refer to; a normalised
    copy may have another rate, so its timing is left to the tool."""
    if videos is None or videos.empty:
        return None
    original = videos["normalised_path"].fillna("").eq("") if "normalised_path" in videos else True
    return videos.loc[original, ["video_sha256", "frames_decoded", "fps", "source_name"]]


def publish_queue(lake: Lake, folder: str, files: dict[str, Path]) -> dict[str, str]:
    """Copy the import files into the lake (each atomically) and return their keys by relative name."""
    for name, path in files.items():
        lake.put_file(f"{folder}/{name}", path)
    # Rerun for new frames under the same champion: a video no longer queued must not keep its old CVAT file.
    current = {lake.path(folder, name) for name in files}
    for stale in set(lake.fs.glob(lake.path(folder, "cvat_images", "*.xml"))) - current:
        lake.fs.rm(stale)
    return {name: f"{folder}/{name}" for name in files}


def partitions_to_mine(lake: Lake, champion_version: str) -> list[dict[str, str]]:
    """Partitions whose current frames the current champion has not mined yet."""
    todo = []
    for partition in lake.table_partitions(keys.SAMPLED_FRAMES):
        marker = keys.mined_marker_key(partition["scene"], partition["day"])
        mined = lake.read_json(marker) if lake.exists(marker) else {}
        current = frames_version(lake.read_table(keys.SAMPLED_FRAMES, partition))
        if (mined.get("champion_version"), mined.get("frames_version")) != (champion_version, current):
            todo.append(partition)
    return todo
