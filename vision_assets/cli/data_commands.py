"""Data commands: demo, ingest, sample, qc and summary. Each gets its report from the core and prints it."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

from vision_assets.cli.environment import in_process_daemon, open_lake, open_registry, prepare_environment
from vision_assets.core.errors import VisionError
from vision_assets.core.numbers import json_ready
from vision_assets.core.text import printable
from vision_assets.settings import Settings

# Core imports stay inside the commands: each command loads only what it uses (video decoding, QC, MLflow).


def one_at_a_time(command):
    """One ingest or demo at a time per data folder: a second one waits for the first, then finds its work done.
    Two at once raced on the instance's SQLite and the lake's partition files, and each would take the other's
    runs for dead ones."""
    @functools.wraps(command)
    def wrapper(args: argparse.Namespace) -> int:
        import fcntl

        data_dir = Settings.from_env().data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        with open(data_dir / ".ingest.lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"vision-assets: another ingest or demo is running on {data_dir}; waiting for it", file=sys.stderr)
                fcntl.flock(handle, fcntl.LOCK_EX)
            return command(args)  # the lock goes with the file's closing, also when the command fails

    return wrapper


@one_at_a_time
def cmd_ingest(args: argparse.Namespace) -> int:
    """One landing-sensor evaluation, its runs and what automation carries on from them; then each file's fate."""
    from vision_assets.cli.story import failed_check_lines, not_done_lines, print_story, still_due
    from vision_assets.core.ingest import ingest_report, label_drop_report
    from vision_assets.core.labels.story import label_story, story_lines

    settings = prepare_environment()
    settings.project()  # a bad project file stops here, in one line, before anything runs
    daemon = in_process_daemon(quiet=args.json)
    _recover(daemon, settings)
    cursor = daemon.automation_cursor()
    daemon.sensor_tick("landing_sensor")
    ingested = sorted({r.partition for r in daemon.runs if r.job == "ingest_videos"})
    daemon.automation_until_quiet(cursor)
    daemon.sensor_tick("label_drop_sensor")  # labels dropped for partitions that already exist
    daemon.automation_until_quiet(daemon.automation_cursor())  # the cursor the first pass left
    lake = open_lake(settings)
    report = ingest_report(lake, settings.landing_dir, ingested) + label_drop_report(lake, settings.landing_dir)
    _warn_unreadable_tables(lake)
    project = settings.project()
    partitions = {tuple(reversed(r.partition.split("|"))) for r in daemon.runs if r.partition and "|" in r.partition}
    story = label_story(lake, partitions, project.class_names)
    checks = failed_check_lines(daemon.instance, [r.run_id for r in daemon.runs if not r.success])
    due, not_due = still_due(settings, project)
    if args.json:
        print(json.dumps({"files": report, "labels": story, "failed_checks": checks, "due": due, "not_due": not_due,
                          "runs": [r.__dict__ for r in daemon.runs]}, indent=2, default=str))
    else:
        print()
        for entry in report:
            detail = f": {entry['detail']}" if entry["detail"] else ""
            print(printable(f"{entry['status']:<14} {entry['file']}{detail}"))  # a \r in a name too
        if not report:
            print("no video files in the landing zone")
        if story:
            print()
            print_story(story_lines(story))
        print()
        print("still due: " + "; ".join(due) + " -> vision-assets run" if due
              else "nothing else due: " + "; ".join(not_due))
    lines = not_done_lines(daemon.instance, daemon.unfinished(training=False),
                           [r.run_id for r in daemon.runs if not r.success])
    for line in lines:
        print(f"not done: {line}", file=sys.stderr)
    return 1 if lines else 0


def _recover(daemon, settings: Settings) -> None:
    """Before anything new: what a killed earlier pass left (dead runs, staged copies) is cleaned up and redone."""
    import dagster as dg

    from vision_assets.core.ingest.staging import remove_orphaned_staging
    from vision_assets.defs.automation import IN_FLIGHT_STATUSES

    daemon.recover()
    running = bool(daemon.instance.get_runs(dg.RunsFilter(statuses=IN_FLIGHT_STATUSES), limit=1))
    removed = remove_orphaned_staging(open_lake(settings), ingest_running=running)
    if removed:
        daemon.log(f"staging: removed {len(removed)} orphaned staged cop{'y' if len(removed) == 1 else 'ies'}")


def _exit_code(daemon, training: bool) -> int:
    """Non-zero whenever requested work is missing: a failed run, or work nothing carried through."""
    missing = daemon.unfinished(training=training)
    for line in missing:
        print(f"not done: {line}", file=sys.stderr)
    return 1 if missing else 0


def cmd_sample(args: argparse.Namespace) -> int:
    """Run a sampling strategy on one file outside Dagster: what it keeps, and what the probe found."""
    if "numpy" not in sys.modules:  # the setting counts only before numpy loads (in-process callers have it)
        # OpenBLAS (numpy's, and OpenCV's own copy) starts a thread per core when loaded: ~0.06 CPU s on two cores,
        # a tenth of sampling vtest.avi. Sampling does no linear algebra; a value the caller set wins.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from vision_assets.core.sampling import STRATEGIES, StrategyError, sample_file_report

    params = dict(_parse_param(text) for text in args.param)
    if args.every is not None:
        defaults = getattr(STRATEGIES.get(args.strategy), "defaults", {})
        name = next((n for n in ("every_seconds", "min_gap_seconds") if n in defaults), None)
        if name is None:
            print(f"vision-assets sample: --every does not apply to strategy {args.strategy!r}", file=sys.stderr)
            return 2
        params[name] = args.every
    video = Path(args.video)
    if not video.is_file():
        raise VisionError(f"sample: {video}: " + ("is not a file" if video.exists() else "no such file"))
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise VisionError(f"sample --out {args.out}: exists and is not a folder (frames are written into a folder)")
    try:
        report = sample_file_report(video, args.strategy, params, Path(args.out) if args.out else None)
    except StrategyError as error:
        print(f"vision-assets sample: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['path']}: {report['outcome']}" + (f" ({report['reason']})" if report["reason"] else ""))
    print(f"  codec {report['codec']}, fps {report['fps']:.3f} (header {report['fps_header']:.3f}), "
          f"{report['frames_decoded']} frames decoded of {report['frames_claimed']} claimed, {report['duration_s']:.2f} s")
    print(f"  {report['strategy']} {json.dumps(report['params'], sort_keys=True)}: kept {report['kept']}, "
          f"dropped {report['near_duplicates_dropped']} near-duplicates")
    for frame in report["frames"]:
        print(f"  frame {frame['index']:>7}  t={frame['timestamp']:9.3f}s" + (f"  {frame['path']}" if "path" in frame else ""))
    return 0


def _parse_param(text: str) -> tuple[str, object]:
    """NAME=VALUE with VALUE as JSON when it parses (numbers, booleans, lists), else as the plain string."""
    name, _, value = text.partition("=")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def cmd_qc(args: argparse.Namespace) -> int:
    """Import plus QC of a label file or folder outside Dagster: counts, per-rule findings, rejected rows."""
    from vision_assets.core.qc import audit_labels

    size = _image_size(args.image_size) if args.image_size else None
    if not Path(args.path).exists():
        raise VisionError(f"qc: {args.path}: no such file or folder")
    classes, aliases, classes_from = _qc_classes(args.classes)
    try:
        report = audit_labels(Path(args.path), args.format, image_size=size, class_names=classes, aliases=aliases)
    except (FileNotFoundError, VisionError) as error:
        print(f"vision-assets qc: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(strict_json({**report, "classes_from": classes_from}))
        return _qc_unreadable_exit(report, Path(args.path))
    print(f"classes: {classes_from}")
    classes_text = ", ".join(f"{name or '<none>'} {count}" for name, count in report["classes"].items())
    print(f"{args.path}: {report['rows']} rows, {report['frames']} frames, {report['tracks']} tracks; {classes_text}")
    rate = f"{report['pass_rate']:.1%}" if report["rows"] else "- (no rows read)"
    print(f"pass rate {rate}: {len(report['rejected'])} rejected, {len(report['flagged'])} flagged")
    for rule, count in report["rules"].items():
        if count:
            print(f"  {rule:<28} {report['severities'][rule]:<8} {count}")
    if report["files_without_image_size"]:
        print(f"  right and bottom image edges not checked for {', '.join(report['files_without_image_size'])} "
              "(no image size declared; pass --image-size WxH)")
    for row in report["rejected"][:args.limit]:
        print(f"  rejected {row['source_file']}#{row['source_id']} frame {row['frame_index']} {row['class_name']}: "
              f"{', '.join(row['rules'])}")
    for problem in report["unreadable"]:
        print(f"  unreadable {problem['error']}")
    return _qc_unreadable_exit(report, Path(args.path))


def _qc_unreadable_exit(report: dict, path: Path) -> int:
    """A label file QC could not read is a failure, not a 100 % pass: named on stderr, exit 2. In a folder whose
    other files were read (a folder may hold a licence or a detections file beside the labels) each one is a
    warning and the readable neighbours' report stands."""
    failed = bool(report["unreadable"]) and (path.is_file() or not report["rows"])
    level = "error" if failed else "warning"
    for problem in report["unreadable"]:
        error = problem["error"] if problem["file"] in problem["error"] else f"{problem['file']}: {problem['error']}"
        print(f"vision-assets: {level}: {' '.join(error.split())} (unreadable, not checked)", file=sys.stderr)
    return 2 if failed else 0


def _qc_classes(option: str | None) -> tuple[list[str] | None, dict[str, str], str]:
    """(known classes, aliases, where they came from): --classes a,b; --classes file: the file's own; by default
    the project's classes and aliases (vision.yaml), which is what the import and QC of the pipeline use."""
    if option == "file":
        return None, {}, "the file's own (--classes file)"
    if option:
        return [c.strip() for c in option.split(",") if c.strip()], {}, "--classes"
    project = Settings.from_env().project()
    aliases = project.aliases
    shown = ", ".join(project.class_names) + (f" (aliases {', '.join(f'{a}->{c}' for a, c in aliases.items())})"
                                              if aliases else "")
    return project.class_names, aliases, f"{shown} from {project.path or 'the defaults (no project file)'}"


def _image_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise VisionError(f"qc --image-size {text!r}: expected WIDTHxHEIGHT in pixels, e.g. 1920x1080")
    return int(width), int(height)


def strict_json(report) -> str:
    """JSON any parser takes: NaN and infinities (a box of non-finite coordinates) become null."""
    return json.dumps(json_ready(report), indent=2, default=str, allow_nan=False)


def _warn_unreadable_tables(lake) -> None:
    for problem in dict.fromkeys(lake.unreadable_tables):
        print(f"vision-assets: warning: skipped {problem}", file=sys.stderr)


@one_at_a_time
def cmd_demo(args: argparse.Namespace) -> int:
    """Generate demo footage and labels, then `vision-assets run` on them."""
    from vision_assets.cli.project_commands import everything_due, report_pass
    from vision_assets.demo import DemoSpec, generate_demo_data

    started = time.monotonic()
    settings = prepare_environment()
    project = settings.project()
    print(f"data folder: {settings.data_dir}")
    generated = generate_demo_data(settings.landing_dir, _demo_spec(DemoSpec, args.seed))
    print(f"demo data: {generated['videos']} videos in {settings.landing_dir}")
    daemon = in_process_daemon()
    everything_due(daemon, settings)
    code = report_pass(daemon, settings, project, False, started)
    print("Open the UI on this instance and data: make ui   (then http://127.0.0.1:3000)")
    return code


def _demo_spec(spec_class, seed: int):
    """VISION_DEMO_SPEC (JSON of DemoSpec fields, e.g. fewer scenes or shorter videos) shrinks the demo."""
    import os

    text = os.environ.get("VISION_DEMO_SPEC")
    fields = json.loads(text) if text else {}
    if not isinstance(fields, dict):
        raise SystemExit(f"vision-assets demo: VISION_DEMO_SPEC must be a JSON object of DemoSpec fields, got {text}")
    for name in ("scenes", "days"):
        if name in fields:
            fields[name] = tuple(fields[name])
    return spec_class(**{"seed": seed, **fields})


def cmd_summary(args: argparse.Namespace) -> int:
    settings = prepare_environment()
    lake = open_lake(settings)
    report = summary(settings, lake)
    _warn_unreadable_tables(lake)  # a truncated partition file is named and left out; the rest is summarised
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_summary(report)
    return 0


def summary(settings: Settings, lake=None) -> dict:
    from vision_assets.core.registry import DEFAULT_MODEL_NAME, collect_summary

    return collect_summary(lake or open_lake(settings), open_registry(settings), DEFAULT_MODEL_NAME)


def print_summary(s: dict) -> None:
    outcomes = ", ".join(f"{v} {k}" for k, v in sorted(s["video_outcomes"].items()))
    print("== vision_assets summary ==")
    print(f"videos:            {s['videos']} ({outcomes})")
    print(f"scenes x days:     {s['scenes_x_days']} ({len(s['scenes'])} scenes)")
    print(f"frames sampled:    {s['frames']}")
    print(f"annotations:       {s['annotations_kept']} kept, {s['annotations_rejected']} rejected by QC")
    print(f"dataset version:   {s.get('dataset_version', '-')}")
    if "model" in s:
        m = s["model"]
        print(f"model:             {m['name']} v{m['version']}  mAP50-95 {m['map50_95']:.4f}  mAP50 {m['map50']:.4f}"
              + (f"  TAINTED: {m['tainted']}" if m.get("tainted") else ""))
        if m.get("decision"):
            print(f"decision:          {m['decision']}")
    if "champion" in s:
        c = s["champion"]
        print(f"champion:          v{c['version']}" + (f"  TAINTED: {c['tainted']}" if c.get("tainted") else ""))
    if "forgotten" in s:
        print(f"forgotten videos:  {s['forgotten']['videos']} (vision-assets audit lists each; their models are tainted)")
        for line in s["forgotten"]["records"][-3:]:
            print(f"  {line}")
