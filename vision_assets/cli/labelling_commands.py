"""`vision-assets labelstudio push|pull`: the labelling loop with a Label Studio server.

push SCENE DAY    the partition's labelling queue as a Label Studio project (config, media storage, tasks with the
                  champion's boxes as predictions); again: nothing changes
pull SCENE DAY    the project's annotations into the label drop zone, one file per video, and imported as a new
                  label version of those videos; again: nothing new

The server and key come from LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY (never written anywhere); videos are served
from the lake by Label Studio's local-files serving, or under VISION_LABEL_STUDIO_MEDIA_URL when set at mining time.
"""

from __future__ import annotations

import argparse
import json
import os

from vision_assets.cli.environment import in_process_daemon, open_lake, prepare_environment

URL_ENV, KEY_ENV = "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"


def register(sub) -> None:
    studio = sub.add_parser("labelstudio", help="push a labelling queue to Label Studio, pull its annotations back")
    actions = studio.add_subparsers(dest="action", required=True)
    for name, func, text in (("push", cmd_push, "create or update the queue's Label Studio project"),
                             ("pull", cmd_pull, "import the project's annotations as a new label version")):
        action = actions.add_parser(name, help=text)
        action.add_argument("scene")
        action.add_argument("day", help="YYYY-MM-DD")
        action.add_argument("--champion", help="the queue of this champion version (default: the newest queue)")
        action.add_argument("--url", help=f"Label Studio's address (default: ${URL_ENV}, else http://127.0.0.1:8080)")
        action.add_argument("--json", action="store_true", help="print one JSON object")
        action.set_defaults(func=func)
    actions.choices["pull"].add_argument("--no-import", action="store_true",
                                         help="only write the files into the label drop zone")


def _client(args: argparse.Namespace):
    from vision_assets.core.labelling.label_studio_api import LabelStudio

    url = args.url or os.environ.get(URL_ENV) or "http://127.0.0.1:8080"
    return LabelStudio(url, os.environ.get(KEY_ENV, ""))


def _video_names(lake, scene: str, day: str) -> dict[str, str]:
    from vision_assets.core.lake import keys

    videos = lake.read_table(keys.RAW_VIDEOS, {"scene": scene, "day": day})
    return {} if videos is None else dict(zip(videos["video_sha256"], videos["source_name"]))


def cmd_push(args: argparse.Namespace) -> int:
    from vision_assets.core.labelling.label_studio_sync import find_queue, push

    lake = open_lake(prepare_environment())
    queue = find_queue(lake, args.scene, args.day, args.champion)
    result = push(_client(args), lake, queue, _video_names(lake, args.scene, args.day))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['project']}: {result['url']}\n  tasks: {result['tasks_created']} created, "
              f"{result['tasks_kept']} already there" + (f"\n  videos served from {result['local_storage']}"
                                                         if result["local_storage"] else ""))
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from vision_assets.core.labelling.label_studio_sync import find_queue, pull, write_pulled
    from vision_assets.core.lake import keys

    settings = prepare_environment()
    lake = open_lake(settings)
    queue = find_queue(lake, args.scene, args.day, args.champion)
    drop_dir = settings.landing_dir / "annotations" / args.scene / args.day
    written = write_pulled(pull(_client(args), lake, queue, _video_names(lake, args.scene, args.day)), drop_dir)
    if written and any(new for _, new in written) and not args.no_import:
        daemon = in_process_daemon(quiet=args.json)
        daemon.sensor_tick("label_drop_sensor")
        daemon.automation_until_quiet(daemon.automation_cursor())
    table = lake.read_table(keys.ANNOTATIONS, {"scene": args.scene, "day": args.day})
    version = None if table is None or table.empty else str(table["label_version"].iloc[0])
    files = [{"file": str(drop_dir / item.name), "video_sha256": item.video_sha256, "written": new,
              "annotations": item.annotations, "annotators": list(item.annotators)} for item, new in written]
    if args.json:
        print(json.dumps({"files": files, "label_version": version}, indent=2))
    else:
        for entry in files:
            state = "written" if entry["written"] else "unchanged"
            print(f"{state:<10} {entry['file']} ({entry['annotations']} annotation(s) by "
                  f"{', '.join(entry['annotators'])})")
        if not files:
            print(f"{queue.title}: no finished annotations yet")
        print(f"label_version of {args.scene} {args.day}: {version}")
    return 0
