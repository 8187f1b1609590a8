"""Mining one scene x day with the champion, and the labelling queue it leaves in the lake.

The queue folder is self-contained for image tools: the queued frames' JPEGs are copied beside the import files and
the files name them relative to the folder, so CVAT, a COCO tool (or datumaro) imports it wherever the folder is.
Each queued video is there too as a browser-playable H.264 copy (videos/<video_sha256>.mp4, every decoded frame at
the video's rate, so Label Studio's frame n is the frame index n - 1); Label Studio's video tasks name it as a URL
Label Studio serves (see video_urls).
"""

from __future__ import annotations

import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vision_assets.core.labels import empty_annotations
from vision_assets.core.lake import Lake, keys
from vision_assets.core.mining.hard_examples import (
    cvat_image_name,
    mine_hard_examples,
    queue_annotations,
    write_labeling_queue,
)
from vision_assets.core.sampling import FRAME_COLUMNS, frames_version, sampling_source
from vision_assets.core.video.browser_mp4 import describe_browser_mp4, transcode_for_browser

QUEUE_IMAGES = "images"
QUEUE_VIDEOS = "videos"


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
        copies, timing = _browser_copies(lake, folder, videos, set(queued["video_sha256"]), Path(tmp),
                                         work_dir)
        urls = video_urls(lake, folder, list(copies), media_base_url)
        files = write_labeling_queue(boxes, queued, Path(tmp), class_names, video_urls=urls, videos=timing,
                                     task_data={v: {"video_sha256": v, "fps": t["fps"]} for v, t in copies.items()})
        files.update({f"{QUEUE_IMAGES}/{Path(p).name}": Path(tmp) / p for p in queued["image_path"]})
        files.update(_cvat_images(queued, Path(tmp)))
        files.update({f"{QUEUE_VIDEOS}/{v}.mp4": Path(tmp) / QUEUE_VIDEOS / f"{v}.mp4" for v in copies})
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


def _cvat_images(queued: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """Each queued JPEG again under the name the video's CVAT file gives it, where Datumaro's CVAT importer looks
    (cvat_images/images/<video_sha256>/, the XML's name being its subset)."""
    files = {}
    for row in queued.itertuples(index=False):
        name = f"cvat_images/{QUEUE_IMAGES}/{row.video_sha256}/{cvat_image_name(row.frame_index)}"
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / name).write_bytes((out_dir / row.image_path).read_bytes())
        files[name] = out_dir / name
    return files


LOCAL_FILES_URL = "/data/local-files/?d="  # Label Studio's local-files serving, relative to its document root


def queue_video_key(folder: str, video_sha256: str) -> str:
    return f"{folder}/{QUEUE_VIDEOS}/{video_sha256}.mp4"


def video_urls(lake: Lake, folder: str, video_sha256s: list[str], media_base_url: str | None = None) -> dict[str, str]:
    """Per video, its browser copy in the queue folder as a URL Label Studio loads: under media_base_url when given
    (a web server or bucket URL in front of the lake), else on a local lake Label Studio's local-files URL of the
    lake key (Label Studio started with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and
    LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<lake root>, and a Local Storage on the folder: `vision-assets
    labelstudio push` creates it), and on an object store the object's URI (served through a cloud storage)."""
    urls = {}
    for video in video_sha256s:
        key = queue_video_key(folder, video)
        if media_base_url:
            urls[video] = f"{media_base_url.rstrip('/')}/{urllib.parse.quote(key)}"
        elif lake.is_local:
            urls[video] = LOCAL_FILES_URL + urllib.parse.quote(key, safe="/")
        else:
            urls[video] = lake.fs.unstrip_protocol(lake.resolve(key))
    return urls


def _browser_copies(lake: Lake, folder: str, videos: pd.DataFrame | None, wanted: set[str], out_dir: Path,
                    work_dir: Path) -> tuple[dict[str, dict], pd.DataFrame | None]:
    """The H.264 copy of each queued video's sampling source (the file its frame numbers count), at the rate it was
    counted at: per video what transcode_for_browser wrote, and the timing table write_labeling_queue takes."""
    copies = {}
    for video in [] if videos is None else videos.to_dict("records"):
        if video["video_sha256"] not in wanted:
            continue
        out = out_dir / QUEUE_VIDEOS / f"{video['video_sha256']}.mp4"
        earlier = _earlier_copy(lake, folder, video["video_sha256"])
        if earlier is not None:  # another champion's queue of this partition has it: the same bytes, no transcoding
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(lake.fs.cat_file(earlier))
            copies[video["video_sha256"]] = describe_browser_mp4(out)
            continue
        key = sampling_source(video)
        local = lake.local_copy(key, work_dir / "videos")
        fps = float(video["fps"] or 0) if key == video["stored_path"] else 0.0  # a normalised copy has its own rate
        copies[video["video_sha256"]] = transcode_for_browser(local, out, fps or _stream_rate(local))
    if not copies:
        return {}, None
    timing = pd.DataFrame([{"video_sha256": v, "frames_decoded": c["frames"], "fps": c["fps"]}
                           for v, c in copies.items()])
    return copies, timing


def _earlier_copy(lake: Lake, folder: str, video_sha256: str) -> str | None:
    """The video's browser copy in a queue of the same partition (any champion), as a path in the lake's fs."""
    parent = folder.rsplit("/", 1)[0]
    found = sorted(lake.fs.glob(lake.path(parent, "champion=v*", QUEUE_VIDEOS, f"{video_sha256}.mp4")))
    return found[0] if found else None


def _stream_rate(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
    return float(rate) if rate else 25.0


def publish_queue(lake: Lake, folder: str, files: dict[str, Path]) -> dict[str, str]:
    """Copy the import files into the lake (each atomically) and return their keys by relative name."""
    for name, path in files.items():
        lake.put_file(f"{folder}/{name}", path)
    # Rerun for new frames under the same champion: no file of a video or frame no longer queued may stay.
    current = {lake.path(folder, name) for name in files}
    for stale in set(lake.fs.find(lake.path(folder))) - current:
        lake.fs.rm(stale)
    return {name: f"{folder}/{name}" for name in files}


def queue_files_of_video(lake: Lake, video_sha256: str, frame_keys: list[str]) -> list[str]:
    """Paths (in the lake's fs) of every labelling queue's copies of a video: its browser video, its CVAT file and
    frames, and the queued JPEGs of its frames (frame_keys: its frames' lake keys). For forgetting the video."""
    names = {Path(key).name for key in frame_keys}
    found = []
    for queue in lake.fs.glob(lake.path("labeling_queue", "scene=*", "day=*", "champion=v*")):
        found += lake.fs.glob(f"{queue}/{QUEUE_VIDEOS}/{video_sha256}.mp4")
        found += lake.fs.glob(f"{queue}/cvat_images/{video_sha256}.xml")
        found += lake.fs.find(f"{queue}/cvat_images/{QUEUE_IMAGES}/{video_sha256}")
        found += [path for path in lake.fs.glob(f"{queue}/{QUEUE_IMAGES}/*") if Path(path).name in names]
    return sorted(set(found))


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
