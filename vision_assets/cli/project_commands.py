"""`vision-assets config` (the effective project configuration and where each value came from) and
`vision-assets run` (everything that is due on the configured data folder, in-process, as the daemon would).

Heavy imports (Dagster, the lake, MLflow) stay inside the commands: `config` never needs them."""

from __future__ import annotations

import argparse
import json
import sys
import time


def register(sub) -> None:
    config = sub.add_parser("config", help="the effective project configuration (vision.yaml, defaults, environment) "
                                           "and where each value came from")
    config.add_argument("--json", action="store_true", help="print one JSON object")
    config.set_defaults(func=cmd_config)
    run = sub.add_parser("run", help="everything due on the data folder, in-process: sensors, automation, retrain, "
                                     "evaluation, registration, hard examples; exits non-zero when something is not done")
    run.add_argument("--json", action="store_true", help="print one JSON object (no progress lines)")
    run.set_defaults(func=cmd_run)


def cmd_config(args: argparse.Namespace) -> int:
    from vision_assets.settings import Settings

    settings = Settings.from_env()
    project = settings.project()
    where = str(project.path) if project.path else f"none ({settings.project_file} does not exist: defaults)"
    if args.json:
        print(json.dumps({"project_file": str(project.path) if project.path else None,
                          "data_dir": str(settings.data_dir), "config": project.as_dict(),
                          "sources": {key: source for key, _, source in project.flat()},
                          "warnings": project.warnings}, indent=2))
        return 0
    print(f"project file: {where}")
    print(f"data folder:  {settings.data_dir}")
    rows = [(key, _shown(value), source) for key, value, source in project.flat()]
    width = max(len(key) for key, _, _ in rows)
    value_width = min(48, max(len(value) for _, value, _ in rows))
    for key, value, source in rows:
        print(f"{key:<{width}}  {value:<{value_width}}  {source}")
    for warning in project.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _shown(value) -> str:
    if isinstance(value, list):  # classes
        return ", ".join(v if isinstance(v, str) else f"{v['name']} (aliases: {', '.join(v['aliases'])})" for v in value)
    if value is None:
        return "-"
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)


def cmd_run(args: argparse.Namespace) -> int:
    from vision_assets.cli.data_commands import one_at_a_time

    return one_at_a_time(_run)(args)


def _run(args: argparse.Namespace) -> int:
    from vision_assets.cli.environment import in_process_daemon, prepare_environment

    started = time.monotonic()
    settings = prepare_environment()
    project = settings.project()  # a bad project file stops here, in one line, before anything runs
    if not args.json:
        print(f"data folder: {settings.data_dir}")
        print(f"project file: {project.path or 'none (defaults; see vision-assets config)'}")
    daemon = in_process_daemon(quiet=args.json)
    everything_due(daemon, settings)
    return report_pass(daemon, settings, project, args.json, started)


def everything_due(daemon, settings) -> None:
    """One pass of what the daemon would do by now: recovery of a killed pass, new footage and labels through
    automation, the retrain sensor (dataset, training, evaluation, registration), automation again (footage
    monitoring with a new model), then the hard-example
    schedule as if its night had come (every partition the current champion has not mined)."""
    from vision_assets.cli.data_commands import _recover

    _recover(daemon, settings)
    cursor = daemon.automation_cursor()
    daemon.sensor_tick("landing_sensor")
    daemon.automation_until_quiet(cursor)
    daemon.sensor_tick("label_drop_sensor")  # labels dropped for partitions that already exist
    daemon.automation_until_quiet(daemon.automation_cursor())
    daemon.sensor_tick("retrain_sensor")
    daemon.automation_until_quiet(daemon.automation_cursor())  # a new model: its footage monitoring
    daemon.schedule_tick("nightly_hard_examples")


def report_pass(daemon, settings, project, as_json: bool, started: float) -> int:
    """Each video's labels, failed checks in one line each, the summary, then `not done:` lines and the exit code."""
    from vision_assets.cli.data_commands import print_summary, summary
    from vision_assets.cli.environment import open_lake
    from vision_assets.cli.story import failed_check_lines, not_done_lines, print_story
    from vision_assets.core.labels.story import label_story, story_lines

    partitions = {tuple(reversed(r.partition.split("|"))) for r in daemon.runs if r.partition and "|" in r.partition}
    story = label_story(open_lake(settings), partitions, project.class_names)
    checks = failed_check_lines(daemon.instance, [r.run_id for r in daemon.runs if not r.success])
    missing = daemon.unfinished(training=True)
    report = summary(settings)
    if as_json:
        print(json.dumps({"labels": story, "failed_checks": checks, "summary": report, "not_done": missing,
                          "runs": [r.__dict__ for r in daemon.runs]}, indent=2, default=str))
    else:
        print()
        print_story(story_lines(story) if story else ["nothing new: no scene x day was processed in this pass"])
        print()
        print_summary(report)
        failed = [r for r in daemon.runs if not r.success]
        print(f"\n{len(daemon.runs)} run(s), {len(failed)} failed, {time.monotonic() - started:.0f} s")
    lines = not_done_lines(daemon.instance, missing, [r.run_id for r in daemon.runs if not r.success])
    for line in lines:
        print(f"not done: {line}", file=sys.stderr)
    return 1 if lines else 0
