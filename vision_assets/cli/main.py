"""`vision-assets`: the demo, ingest without the daemon, lineage audits, promote and rollback."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

from vision_assets.settings import PROJECT_ROOT, Settings


def prepare_environment() -> Settings:
    """Point Dagster and third-party libraries at the data folder before anything imports them."""
    settings = Settings.from_env()
    settings.prepare()
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    instance_yaml, template = settings.dagster_home / "dagster.yaml", PROJECT_ROOT / "dagster.yaml"
    if not instance_yaml.exists() and template.exists():
        shutil.copyfile(template, instance_yaml)  # without one, Dagster's own default is SQLite here too
    return settings


def _daemon(settings: Settings, quiet: bool = False):
    import dagster as dg

    from vision_assets.definitions import defs
    from vision_assets.local_daemon import LocalDaemon

    return LocalDaemon(defs, dg.DagsterInstance.get(), log=(lambda _: None) if quiet else print)


def cmd_ingest(args: argparse.Namespace) -> int:
    """One landing-sensor evaluation, its runs and what automation carries on from them; then each file's fate."""
    settings = prepare_environment()
    daemon = _daemon(settings, quiet=args.json)
    cursor = daemon.automation_cursor()
    daemon.sensor_tick("landing_sensor")
    ingested = sorted({r.partition for r in daemon.runs if r.job == "ingest_videos"})
    daemon.automation_until_quiet(cursor)
    daemon.sensor_tick("label_drop_sensor")  # labels dropped for partitions that already exist
    daemon.automation_until_quiet(daemon.automation_cursor())  # the cursor the first pass left
    report = ingest_report(settings, ingested) + label_drop_report(settings)
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


def ingest_report(settings: Settings, partitions: list[str]) -> list[dict]:
    """ingested / duplicate / near-duplicate / truncated / quarantined / refused / unchanged, file by file."""
    from vision_assets.core.ingest import scan_landing
    from vision_assets.core.lake import Lake

    tables = _PartitionTables(Lake(settings.lake_root), "raw_videos")
    run_partitions = {tuple(p.split("|")[::-1]) for p in partitions}  # "day|scene" -> (scene, day)
    report = []
    for landed in scan_landing(settings.landing_dir):
        if landed.refused:
            report.append(_refused(landed.path, landed.refused))
            continue
        table = tables.get(landed.scene, landed.day)
        rows = table[table["source_name"] == landed.path.name] if table is not None else []
        if len(rows) == 0:
            report.append({"file": str(landed.path), "status": "not ingested", "detail": "ingest run failed"})
            continue
        row = rows.iloc[0]
        status, detail = _file_status(row)
        if (landed.scene, landed.day) not in run_partitions and status == "ingested":
            status = "unchanged"
        report.append({"file": str(landed.path), "status": status, "detail": detail,
                       "video_sha256": row["video_sha256"], "scene": landed.scene, "day": landed.day})
    return report


class _PartitionTables:
    """One read of a lake table per scene x day, however many landed files point at it."""

    def __init__(self, lake, table: str):
        self.lake, self.table, self.cache = lake, table, {}

    def get(self, scene: str, day: str):
        if (scene, day) not in self.cache:
            self.cache[scene, day] = self.lake.read_table(self.table, {"scene": scene, "day": day})
        return self.cache[scene, day]


def _refused(path: Path, refused: str) -> dict:
    return {"file": str(path), "status": "refused", "detail": refused.removeprefix(f"{path}: ")}


def label_drop_report(settings: Settings) -> list[dict]:
    """Each entry of the label drop zone: imported (with its rows), unmatched, unreadable or refused."""
    from vision_assets.core.ingest import scan_label_drop_zone
    from vision_assets.core.lake import Lake

    tables = _PartitionTables(Lake(settings.lake_root), "label_sources")
    report = []
    for entry in scan_label_drop_zone(settings.landing_dir):
        if entry.refused:
            report.append(_refused(entry.path, entry.refused))
            continue
        sources = tables.get(entry.scene, entry.day)
        rows = sources[sources["fingerprint"] == entry.fingerprint] if sources is not None and "fingerprint" in sources \
            else []
        if len(rows) == 0:
            report.append({"file": str(entry.path), "status": "waiting", "detail": "no videos of its partition yet"})
            continue
        row = rows.iloc[0]
        status = {"unmatched": "unmatched", "unreadable": "unreadable"}.get(row["format"], "labels")
        detail = {"unmatched": f"no video named {entry.video_stem} in {entry.scene}/{entry.day}",
                  "unreadable": "see the annotations asset's label_files_readable check"}.get(
            row["format"], f"{row['rows']} {row['format']} rows")
        report.append({"file": str(entry.path), "status": status, "detail": detail})
    return report


def _file_status(row) -> tuple[str, str]:
    if row["outcome"] != "ok":
        return row["outcome"], row["reason"]
    if row["duplicate_of"]:
        return "duplicate", f"same bytes as {row['duplicate_of']}"
    if row.get("near_duplicate_of"):
        return "near-duplicate", (f"re-encode of {row['near_duplicate_of']} "
                                  f"(signature distance {row['near_duplicate_distance']:.1f})")
    return "ingested", f"{row['frames_decoded']} frames, {row['duration_s']:.1f} s, {row['codec']}"


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


def _parse_param(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def cmd_demo(args: argparse.Namespace) -> int:
    from vision_assets.demo.generator import DemoSpec, generate_demo_data

    started = time.monotonic()
    settings = prepare_environment()
    print(f"data folder: {settings.data_dir}")
    generated = generate_demo_data(settings.landing_dir, DemoSpec(seed=args.seed))
    print(f"demo data: {generated['videos']} videos in {settings.landing_dir}")
    daemon = _daemon(settings)
    cursor = daemon.automation_cursor()
    daemon.sensor_tick("landing_sensor")
    daemon.automation_until_quiet(cursor)
    daemon.sensor_tick("retrain_sensor")
    daemon.schedule_tick("nightly_hard_examples")
    print()
    print_summary(settings)
    failed = [r for r in daemon.runs if not r.success]
    print(f"\n{len(daemon.runs)} run(s), {len(failed)} failed, {time.monotonic() - started:.0f} s")
    print("Open the UI on this instance and data: make ui   (then http://127.0.0.1:3000)")
    return 1 if failed else 0


def collect_summary(settings: Settings) -> dict:
    from vision_assets.core.lake import Lake
    from vision_assets.core.registry import ModelRegistry
    from vision_assets.defs.resources import MlflowResource

    lake = Lake(settings.lake_root)
    videos = lake.read_tables("raw_videos")
    frames = lake.read_tables("sampled_frames")
    qc = lake.read_tables("qc_summary")
    summary: dict = {
        "videos": int(len(videos)),
        "video_outcomes": videos["outcome"].value_counts().to_dict() if len(videos) else {},
        "scenes_x_days": int(videos[["scene", "day"]].drop_duplicates().shape[0]) if len(videos) else 0,
        "scenes": sorted(videos["scene"].unique().tolist()) if len(videos) else [],
        "frames": int(len(frames)),
        "annotations_kept": int(qc["kept"].sum()) if len(qc) else 0,
        "annotations_rejected": int(qc["rejected"].sum()) if len(qc) else 0,
    }
    if lake.exists("datasets/latest.json"):
        summary["dataset_version"] = lake.read_json("datasets/latest.json")["version"]
    model_name = MlflowResource.model_fields["model_name"].default
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    champion = registry.champion(model_name)
    latest = registry.find_version(model_name, "dataset_version", summary.get("dataset_version", "-"))
    for label, version in (("model", latest), ("champion", champion)):
        if version is not None:
            summary[label] = {"name": model_name, "version": str(version.version),
                              "map50_95": float(version.tags.get("map50_95", "nan")),
                              "map50": float(version.tags.get("map50", "nan")),
                              "dataset_version": version.tags.get("dataset_version")}
    return summary


def print_summary(settings: Settings) -> None:
    s = collect_summary(settings)
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


def cmd_summary(args: argparse.Namespace) -> int:
    settings = prepare_environment()
    if args.json:
        print(json.dumps(collect_summary(settings), indent=2))
    else:
        print_summary(settings)
    return 0


def _registry(settings: Settings):
    from vision_assets.core.registry import ModelRegistry
    from vision_assets.defs.resources import MlflowResource

    return ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root), MlflowResource.model_fields["model_name"].default


def cmd_lineage(args: argparse.Namespace) -> int:
    """Which exact video bytes and label versions made this model?"""
    from vision_assets.core.lake import Lake

    settings = prepare_environment()
    registry, name = _registry(settings)
    version = registry.client.get_model_version(name, args.version) if args.version else registry.champion(name)
    if version is None:
        print(f"model {name} has no champion yet", file=sys.stderr)
        return 1
    dataset = Lake(settings.lake_root).read_json(f"datasets/{version.tags['dataset_version']}/dataset.json")
    # From the dataset version's own immutable record, not from tables later runs may have rewritten.
    report = {
        "model": {"name": name, "version": str(version.version), "mlflow_run_id": version.run_id, "tags": dict(version.tags)},
        "dataset": {k: dataset.get(k) for k in ("version", "counts", "label_versions", "split_config")},
        "videos": dataset.get("video_sources", [{"video_sha256": v} for v in dataset["videos"]]),
        "label_files": dataset.get("label_files", []),
    }
    print(json.dumps(report, indent=2, default=str))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    registry, name = _registry(prepare_environment())
    registry.promote(name, args.version)
    print(f"{name}: champion is v{args.version}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    registry, name = _registry(prepare_environment())
    try:
        restored = registry.rollback(name)
    except LookupError as error:
        print(f"rollback refused: {error}", file=sys.stderr)
        return 1
    print(f"{name}: champion rolled back to v{restored}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """`dagster dev` (webserver + daemon) on the same instance and data as the demo."""
    settings = prepare_environment()
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", args.host, "-p", str(args.port)]
    print(f"DAGSTER_HOME={settings.dagster_home}\nUI: http://{args.host}:{args.port}")
    os.chdir(settings.dagster_home)  # not the repo root, whose dagster.yaml is only the template
    os.execv(command[0], command)
    return 0


def main(argv: list[str] | None = None) -> int:
    # Dagster flags parameters it calls beta on every use; a terminal user can do nothing about them.
    warnings.filterwarnings("ignore", message=".*currently in beta.*")
    parser = argparse.ArgumentParser(prog="vision-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="generate demo videos and run the whole asset graph once, in-process")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)
    ingest = sub.add_parser("ingest", help="one landing-sensor evaluation and the runs it and automation request, "
                                           "then each landed file's outcome")
    ingest.add_argument("--json", action="store_true")
    ingest.set_defaults(func=cmd_ingest)
    sample = sub.add_parser("sample", help="run a sampling strategy on one video file and print the frames it keeps")
    sample.add_argument("video")
    sample.add_argument("--strategy", default="fixed_interval",
                        help="fixed_interval, scene_change, motion, keyframes or a registered plugin")
    sample.add_argument("--every", type=float, help="seconds between frames (fixed_interval) or minimum gap (others)")
    sample.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="any strategy parameter, e.g. --param threshold=12")
    sample.add_argument("--out", help="write the kept frames here as JPEG")
    sample.add_argument("--json", action="store_true", help="print one JSON object")
    sample.set_defaults(func=cmd_sample)
    qc = sub.add_parser("qc", help="import a label file or folder and run QC on it, outside Dagster")
    qc.add_argument("path")
    qc.add_argument("--format", help="coco, yolo, cvat_video, cvat_images, mot or label_studio (default: detected)")
    qc.add_argument("--image-size", metavar="WxH", help="frame size when the file does not declare one")
    qc.add_argument("--classes", help="comma-separated known classes (default: the classes the file uses)")
    qc.add_argument("--limit", type=int, default=20, help="rejected rows to print (text output)")
    qc.add_argument("--json", action="store_true", help="print one JSON object")
    qc.set_defaults(func=cmd_qc)
    summary = sub.add_parser("summary", help="what the lake and registry hold")
    summary.add_argument("--json", action="store_true")
    summary.set_defaults(func=cmd_summary)
    lineage = sub.add_parser("lineage", help="videos, labels and dataset behind a model version")
    lineage.add_argument("--version", help="model version (default: the champion)")
    lineage.set_defaults(func=cmd_lineage)
    promote = sub.add_parser("promote", help="make a model version the champion")
    promote.add_argument("version")
    promote.set_defaults(func=cmd_promote)
    sub.add_parser("rollback", help="give the champion alias back to the previous champion").set_defaults(func=cmd_rollback)
    ui = sub.add_parser("ui", help="dagster dev on the demo's instance and data")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
