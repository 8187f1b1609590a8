"""Data commands: demo, ingest, sample, qc and summary. Each gets its report from the core and prints it."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from vision_assets.cli.environment import in_process_daemon, open_lake, open_registry, prepare_environment
from vision_assets.settings import Settings

# Core imports stay inside the commands: each command loads only what it uses (video decoding, QC, MLflow).


def cmd_ingest(args: argparse.Namespace) -> int:
    """One landing-sensor evaluation, its runs and what automation carries on from them; then each file's fate."""
    from vision_assets.core.ingest import ingest_report, label_drop_report

    settings = prepare_environment()
    daemon = in_process_daemon(quiet=args.json)
    cursor = daemon.automation_cursor()
    daemon.sensor_tick("landing_sensor")
    ingested = sorted({r.partition for r in daemon.runs if r.job == "ingest_videos"})
    daemon.automation_until_quiet(cursor)
    daemon.sensor_tick("label_drop_sensor")  # labels dropped for partitions that already exist
    daemon.automation_until_quiet(daemon.automation_cursor())  # the cursor the first pass left
    lake = open_lake(settings)
    report = ingest_report(lake, settings.landing_dir, ingested) + label_drop_report(lake, settings.landing_dir)
    if args.json:
        print(json.dumps({"files": report, "runs": [r.__dict__ for r in daemon.runs]}, indent=2, default=str))
    else:
        print()
        for entry in report:
            detail = f": {entry['detail']}" if entry["detail"] else ""
            print(f"{entry['status']:<14} {entry['file']}{detail}")
        if not report:
            print("no video files in the landing zone")
    return 0 if all(r.success for r in daemon.runs) else 1


def cmd_sample(args: argparse.Namespace) -> int:
    """Run a sampling strategy on one file outside Dagster: what it keeps, and what the probe found."""
    from vision_assets.core.sampling import STRATEGIES, StrategyError, sample_file_report

    params = dict(_parse_param(text) for text in args.param)
    if args.every is not None:
        defaults = getattr(STRATEGIES.get(args.strategy), "defaults", {})
        name = next((n for n in ("every_seconds", "min_gap_seconds") if n in defaults), None)
        if name is None:
            print(f"vision-assets sample: --every does not apply to strategy {args.strategy!r}", file=sys.stderr)
            return 2
        params[name] = args.every
    try:
        report = sample_file_report(Path(args.video), args.strategy, params, Path(args.out) if args.out else None)
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

    size = tuple(int(v) for v in args.image_size.lower().split("x")) if args.image_size else None
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    try:
        report = audit_labels(Path(args.path), args.format, image_size=size, class_names=classes)
    except (FileNotFoundError, ValueError) as error:
        print(f"vision-assets qc: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    classes_text = ", ".join(f"{name or '<none>'} {count}" for name, count in report["classes"].items())
    print(f"{args.path}: {report['rows']} rows, {report['frames']} frames, {report['tracks']} tracks; {classes_text}")
    print(f"pass rate {report['pass_rate']:.1%}: {len(report['rejected'])} rejected, {len(report['flagged'])} flagged")
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
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate demo footage and labels, then one daemon pass over the whole graph; the summary at the end."""
    from vision_assets.demo import DemoSpec, generate_demo_data

    started = time.monotonic()
    settings = prepare_environment()
    print(f"data folder: {settings.data_dir}")
    generated = generate_demo_data(settings.landing_dir, DemoSpec(seed=args.seed))
    print(f"demo data: {generated['videos']} videos in {settings.landing_dir}")
    daemon = in_process_daemon()
    cursor = daemon.automation_cursor()
    daemon.sensor_tick("landing_sensor")
    daemon.automation_until_quiet(cursor)
    daemon.sensor_tick("retrain_sensor")
    daemon.schedule_tick("nightly_hard_examples")
    print()
    print_summary(summary(settings))
    failed = [r for r in daemon.runs if not r.success]
    print(f"\n{len(daemon.runs)} run(s), {len(failed)} failed, {time.monotonic() - started:.0f} s")
    print("Open the UI on this instance and data: make ui   (then http://127.0.0.1:3000)")
    return 1 if failed else 0


def cmd_summary(args: argparse.Namespace) -> int:
    report = summary(prepare_environment())
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_summary(report)
    return 0


def summary(settings: Settings) -> dict:
    from vision_assets.core.registry import DEFAULT_MODEL_NAME, collect_summary

    return collect_summary(open_lake(settings), open_registry(settings), DEFAULT_MODEL_NAME)


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
        print(f"model:             {m['name']} v{m['version']}  mAP50-95 {m['map50_95']:.4f}  mAP50 {m['map50']:.4f}")
    if "champion" in s:
        print(f"champion:          v{s['champion']['version']}")
