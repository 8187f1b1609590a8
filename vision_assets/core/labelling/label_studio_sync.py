"""The labelling loop with a Label Studio server: a queue pushed as a project, its annotations pulled back as labels.

push: one project per labelling queue (scene x day x champion), titled after it, with a labelling config that
declares the queue's classes and the videos' real frame rate; a Local Storage on the queue's videos/ folder when
the tasks name local-files URLs (Label Studio serves nothing else from disk); one task per video with the
champion's boxes as predictions. Tasks already in the project (matched by data.video_sha256) are left as they are,
so pushing again changes nothing.

pull: the project's export, one Label Studio file per annotated video (its task with the human annotations, each
completed_by resolved to the user's email), named after the video for the label drop zone
(landing/annotations/<scene>/<day>/<video file name>.json). A file whose bytes would not change is not written
again, so pulling again imports nothing new.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from vision_assets.core.labelling.label_studio_api import LabelStudio, LabelStudioError
from vision_assets.core.lake import Lake, keys
from vision_assets.core.mining.hard_examples import COCO_FILE
from vision_assets.core.mining.partition import LOCAL_FILES_URL, QUEUE_VIDEOS

PROJECT_TITLE_PREFIX = "vision-assets"
_QUEUE = re.compile(r"labeling_queue/scene=(?P<scene>[^/]+)/day=(?P<day>[^/]+)/champion=v(?P<version>[^/]+)$")


@dataclass(frozen=True)
class Queue:
    folder: str  # lake key of the queue folder
    scene: str
    day: str
    champion_version: str

    @property
    def title(self) -> str:
        return f"{PROJECT_TITLE_PREFIX} {self.scene} {self.day} champion v{self.champion_version}"


def find_queue(lake: Lake, scene: str, day: str, champion_version: str | None = None) -> Queue:
    """The partition's queue under that champion, or under the newest champion that left one."""
    if champion_version is not None:
        folder = keys.labeling_queue_folder(scene, day, champion_version)
        if not lake.exists(f"{folder}/label_studio.json"):
            raise LabelStudioError(f"{folder}: no labelling queue there (mine the partition first)")
        return Queue(folder, scene, day, str(champion_version))
    parent = keys.labeling_queue_folder(scene, day, "0").rsplit("/", 1)[0]
    found = []
    for path in lake.fs.glob(lake.path(parent, "champion=v*", "label_studio.json")):
        version = Path(path).parent.name.removeprefix("champion=v")
        found.append((int(version) if version.isdigit() else -1, version))
    if not found:
        raise LabelStudioError(f"{parent}: no labelling queue for {scene} {day} (mine the partition first)")
    return find_queue(lake, scene, day, max(found)[1])


def labelling_config(class_names: list[str], fps: float | None) -> str:
    """Video object tracking: the video at its real rate (a number when all tasks share one, else each task's
    data.fps), a box tool, the classes. Without frameRate Label Studio assumes 24 fps and puts boxes at wrong times."""
    rate = f"{fps:.10g}" if fps else "$fps"  # 45000/1499 as 30.02001334: frame numbers stay exact for hours
    labels = "".join(f"<Label value={quoteattr(name)}/>" for name in class_names)
    return (f'<View><Header value="$video_name"/>'
            f'<Video name="video" value="$video" frameRate="{rate}"/>'
            f'<VideoRectangle name="box" toName="video"/>'
            f'<Labels name="videoLabels" toName="video" allowEmpty="true">{labels}</Labels></View>')


def queue_tasks(lake: Lake, queue: Queue) -> list[dict]:
    return json.loads(lake.fs.cat_file(lake.resolve(f"{queue.folder}/label_studio.json")))


def queue_classes(lake: Lake, queue: Queue) -> list[str]:
    coco = json.loads(lake.fs.cat_file(lake.resolve(f"{queue.folder}/{COCO_FILE}")))
    return [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])]


def push(client: LabelStudio, lake: Lake, queue: Queue, video_names: dict[str, str]) -> dict:
    """Create or update the queue's project; returns what was done (project id, tasks created and kept)."""
    tasks = queue_tasks(lake, queue)
    rates = {float(t["data"]["fps"]) for t in tasks if t["data"].get("fps")}
    config = labelling_config(queue_classes(lake, queue), rates.pop() if len(rates) == 1 else None)
    project = client.project_by_title(queue.title)
    if project is None:
        project = client.create_project(queue.title, config, f"Labelling queue {queue.folder}")
    elif project.get("label_config") != config:
        project = client.update_project(project["id"], label_config=config)
    storage = _ensure_storage(client, lake, queue, project["id"], tasks)
    present = {t["data"].get("video_sha256") for t in client.tasks(project["id"])}
    new = [_task(t, video_names) for t in tasks if t["data"].get("video_sha256") not in present]
    if new:
        client.import_tasks(project["id"], new)
    return {"project_id": project["id"], "project": queue.title, "url": f"{client.url}/projects/{project['id']}/",
            "tasks_created": len(new), "tasks_kept": len(tasks) - len(new), "local_storage": storage}


def _task(task: dict, video_names: dict[str, str]) -> dict:
    data = dict(task["data"])
    data["video_name"] = video_names.get(data.get("video_sha256", ""), data.get("video_sha256", "")[:12])
    predictions = [p for p in task.get("predictions", []) if p.get("result")]
    return {"data": data, "predictions": predictions}


def _ensure_storage(client: LabelStudio, lake: Lake, queue: Queue, project_id: int, tasks: list[dict]) -> str | None:
    """A Local Storage on the queue's videos/ folder when the tasks name local-files URLs: the path Label Studio
    checks a /data/local-files/ request against (it must lie under LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT, the
    lake root)."""
    if not any(str(t["data"].get("video", "")).startswith(LOCAL_FILES_URL) for t in tasks):
        return None
    if not lake.is_local:
        raise LabelStudioError(f"{queue.folder}: local-files URLs on a lake that is not local")
    path = str(Path(lake.resolve(f"{queue.folder}/{QUEUE_VIDEOS}")))
    if not any(s.get("path") == path for s in client.local_storages(project_id)):
        try:
            client.create_local_storage(project_id, path, f"{queue.folder}/{QUEUE_VIDEOS}")
        except LabelStudioError as error:
            raise LabelStudioError(f"{error} (start Label Studio with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true "
                                   f"and LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<lake root>)") from None
    return path


@dataclass(frozen=True)
class PulledFile:
    video_sha256: str
    name: str  # the drop-zone file name: <video file name>.json
    content: bytes
    annotations: int
    annotators: tuple[str, ...]


def pull(client: LabelStudio, lake: Lake, queue: Queue, video_names: dict[str, str]) -> list[PulledFile]:
    """Per annotated video of the queue's project, the Label Studio file to drop for it (one task, its human
    annotations with completed_by named). video_names: {video_sha256: the video's file name}."""
    project = client.project_by_title(queue.title)
    if project is None:
        raise LabelStudioError(f"no Label Studio project {queue.title!r} (push the queue first)")
    try:
        users = {u["id"]: u for u in client.users()}
    except LabelStudioError:  # a key that may not list users: annotators stay Label Studio's user ids
        users = {}
    by_url = {t["data"]["video"]: t["data"].get("video_sha256") for t in queue_tasks(lake, queue)}
    pulled = []
    for task in sorted(client.export(project["id"]), key=lambda t: t["id"]):
        video = task["data"].get("video_sha256") or by_url.get(task["data"].get("video"))
        annotations = [_annotation(a, users) for a in task.get("annotations", [])
                       if not a.get("was_cancelled") and a.get("result")]
        if not annotations or video not in video_names:
            continue
        data = {"video": task["data"]["video"], "video_sha256": video}
        content = json.dumps([{"id": task["id"], "data": data, "annotations": annotations}], indent=1, sort_keys=True)
        pulled.append(PulledFile(video, f"{video_names[video]}.json", content.encode() + b"\n", len(annotations),
                                 tuple(sorted({str(a["completed_by"]["email"] or a["completed_by"]["username"]
                                                   or a["completed_by"]["id"]) for a in annotations}))))
    return pulled


def _annotation(annotation: dict, users: dict[int, dict]) -> dict:
    """The fields a reader needs; completed_by as the user (Label Studio exports only the numeric id)."""
    who = annotation.get("completed_by")
    user = users.get(who.get("id") if isinstance(who, dict) else who, {})
    return {"id": annotation["id"], "result": annotation["result"], "was_cancelled": False,
            "completed_by": {"id": user.get("id", who), "email": user.get("email", ""),
                             "username": user.get("username", "")}}


def write_pulled(pulled: list[PulledFile], drop_dir: Path) -> list[tuple[PulledFile, bool]]:
    """Each file into the partition's drop-zone folder; (file, written): unchanged bytes are not rewritten (the
    drop-zone sensor would see a new modification time)."""
    from vision_assets.core.lake import atomic_write_bytes

    drop_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for item in pulled:
        path = drop_dir / item.name
        same = path.is_file() and path.read_bytes() == item.content
        if not same:
            atomic_write_bytes(path, item.content)
        out.append((item, not same))
    return out


def media_url_of(task: dict, base_url: str) -> str:
    """The absolute URL a browser loads a task's video from (local-files URLs are relative to Label Studio)."""
    video = task["data"]["video"]
    return urllib.parse.urljoin(base_url.rstrip("/") + "/", video.lstrip("/")) if video.startswith("/") else video
