"""`vision-assets labelstudio push|pull`: the labelling loop with a Label Studio server.

queue             every labelling queue of the current champion in the order to label them: partitions whose
                  footage drifted first (smallest p-value), then by the queue's uncertainty
push SCENE DAY    the partition's labelling queue as a Label Studio project (config, media storage, tasks with the
                  champion's boxes as predictions); again: nothing changes. Without SCENE DAY: the queue `queue`
                  lists first
pull SCENE DAY    the project's annotations into the label drop zone, one file per video, and imported as a new
                  label version of those videos; again: nothing new

The server and key come from LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY (never written anywhere); videos are served
from the lake by Label Studio's local-files serving, or under VISION_LABEL_STUDIO_MEDIA_URL when set at mining time.
"""

from __future__ import annotations

import argparse
import json
import os

from vision_assets.cli.environment import in_process_daemon, open_lake, open_registry, prepare_environment
from vision_assets.core.errors import VisionError

URL_ENV, KEY_ENV = "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"


def register(sub) -> None:
    studio = sub.add_parser("labelstudio", help="push a labelling queue to Label Studio, pull its annotations back")
    actions = studio.add_subparsers(dest="action", required=True)
    for name, func, text in (("push", cmd_push, "create or update the queue's Label Studio project"),
                             ("pull", cmd_pull, "import the project's annotations as a new label version")):
        action = actions.add_parser(name, help=text)
        first = " (omit SCENE and DAY for the first queue of `vision-assets queue`)" if name == "push" else ""
        action.add_argument("scene", nargs="?" if name == "push" else None, help=f"the partition's scene{first}")
        action.add_argument("day", nargs="?" if name == "push" else None, help="YYYY-MM-DD")
        action.add_argument("--champion", help="the queue of this champion version (default: the newest queue)")
        action.add_argument("--url", help=f"Label Studio's address (default: ${URL_ENV}, else http://127.0.0.1:8080)")
        action.add_argument("--json", action="store_true", help="print one JSON object")
        action.set_defaults(func=func)
    actions.choices["pull"].add_argument("--no-import", action="store_true",
                                         help="only write the files into the label drop zone")
    queue = sub.add_parser("queue", help="the labelling queues in the order to label them: drifting footage first, "
                                         "then the most uncertain queues")
    queue.add_argument("--json", action="store_true", help="print one JSON object")
    queue.set_defaults(func=cmd_queue)


class QueueError(VisionError):
    """No labelling order to give: printed as one line."""


def labelling_order(settings):
    """The current champion's version and its labelling queues in order (core.monitoring.feedback)."""
    from vision_assets.core.monitoring.feedback import read_labelling_order
    from vision_assets.core.registry import DEFAULT_MODEL_NAME

    champion = open_registry(settings).champion(DEFAULT_MODEL_NAME)
    if champion is None:
        raise QueueError(f"{DEFAULT_MODEL_NAME}: no champion yet, so no labelling queue (train and register a model)")
    return str(champion.version), read_labelling_order(open_lake(settings), str(champion.version))


def cmd_queue(args: argparse.Namespace) -> int:
    from vision_assets.core.monitoring.thresholds import DRIFT_P_VALUE

    version, order = labelling_order(prepare_environment())
    rows = [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}  # NaN is not JSON
            for row in order.to_dict("records")]
    if args.json:
        print(json.dumps({"champion_version": version, "drift_p_value_threshold": DRIFT_P_VALUE, "queues": rows},
                         indent=2))
        return 0
    if not rows:
        print(f"champion v{version} has mined no labelling queue yet (the nightly schedule and the champion mining "
              f"sensor mine every partition)")
        return 0
    print(f"Labelling order of champion v{version}'s queues: drifting footage (p < {DRIFT_P_VALUE:g}) first, "
          f"then the most uncertain")
    print(f"{'#':>3}  {'scene':<16} {'day':<10}  {'footage':<26} {'frames':>6}  {'max unc.':>8}  queue")
    for row in rows:
        p = row["drift_p_value"]
        footage = row["drift_verdict"] + (f" (p {p:.3g})" if p is not None else "")
        print(f"{row['rank']:>3}  {row['scene']:<16} {row['day']:<10}  {footage:<26} {row['frames_queued']:>6}  "
              f"{row['max_uncertainty']:>8.3f}  {row['queue_folder']}")
    print(f"next: vision-assets labelstudio push {rows[0]['scene']} {rows[0]['day']}")
    return 0


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

    settings = prepare_environment()
    lake = open_lake(settings)
    if args.scene is None and args.champion:
        raise QueueError(f"champion v{args.champion}: --champion picks a queue of SCENE DAY; give them, or neither "
                         f"option for the first queue of the current champion's labelling order")
    if args.scene is None:  # no partition named: the first queue of the labelling order
        version, order = labelling_order(settings)
        if order.empty:
            raise QueueError(f"champion v{version}: no labelling queue to push yet (mine the partitions first)")
        args.scene, args.day, args.champion = order["scene"].iloc[0], order["day"].iloc[0], version
    elif args.day is None:
        raise QueueError(f"{args.scene}: give the day too (YYYY-MM-DD), or neither for the first queue in order")
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
