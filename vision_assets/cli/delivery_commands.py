"""Delivery commands: pull a verified model package, forget a video, read the audit trail."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from vision_assets.cli.environment import open_lake, open_registry, prepare_environment
from vision_assets.cli.model_commands import CommandError, one_line_errors, split_model_ref


@one_line_errors
def cmd_pull(args: argparse.Namespace) -> int:
    """Download MODEL[@ALIAS] and refuse it unless every file matches the manifest recorded at registration.

    The pull is audited before anything is delivered: a lake that cannot take the audit row (read-only, full)
    fails the pull while `--out` is still empty, so no model ever leaves unrecorded."""
    from vision_assets.core.registry import DEFAULT_MODEL_NAME, record_event
    from vision_assets.core.registry.forget import TAINTED_TAG
    from vision_assets.core.registry.package import MANIFEST_TAG, pull_package, resolve_version

    settings = prepare_environment()
    registry, lake = open_registry(settings), open_lake(settings)
    name, which = split_model_ref(args.model, DEFAULT_MODEL_NAME)
    version = resolve_version(registry, name, which)
    number = str(version.version)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise CommandError(f"{out}: not empty; pull into a new or empty folder")
    taint = version.tags.get(TAINTED_TAG, "")
    manifest = version.tags.get(MANIFEST_TAG, "")
    try:
        record_event(lake, "pull", f"{name} v{number}", args.reason or "",
                     details=f"manifest {manifest[:16] or '-'}" + (f"; tainted: {taint}" if taint else ""))
    except OSError as error:
        raise CommandError(f"{name} v{number}: not pulled: the audit trail in {settings.lake_root} cannot be "
                           f"written ({error.strerror or error}); nothing was delivered") from None
    pulled = pull_package(registry, name, number, out, settings.work_dir)
    print(f"{name} v{pulled['version']}: {pulled['files']} files verified against manifest "
          f"{pulled['manifest_sha256'][:16]}..., in {pulled['out']}")
    if taint:
        print(f"warning: {name} v{number} is tainted: {taint} (vision-assets audit lists the forget)", file=sys.stderr)
    return 0


@one_line_errors
def cmd_forget(args: argparse.Namespace) -> int:
    from vision_assets.core.registry import DEFAULT_MODEL_NAME
    from vision_assets.core.registry.forget import forget_video

    if not (args.reason or "").strip():
        raise CommandError("forget needs --reason TEXT (it is recorded in the audit trail)")
    settings = prepare_environment()
    report = forget_video(open_registry(settings), open_lake(settings), DEFAULT_MODEL_NAME, args.video, args.reason,
                          apply=args.apply)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    video = report["video"]
    print(f"video {video['sha256']} ({', '.join(video['source_names'])})")
    print("  partitions: " + ", ".join(f"{p['scene']}/{p['day']}" for p in report["partitions"]))
    print(f"  frames: {report['frames']['count']}; dataset versions: {', '.join(report['dataset_versions']) or '-'}; "
          f"model versions: {', '.join('v' + m['version'] for m in report['model_versions']) or '-'}")
    if report["applied"]:
        rows = ", ".join(f"{k} {v}" for k, v in sorted(report["removed_rows"].items()))
        print(f"forgotten: {report['removed_blobs']} blobs and rows ({rows}) removed, {report['removed_derived']} "
              "derived files (labelling queue, replays, error crops, previews); dataset and model versions above "
              "tagged tainted; the next dataset version excludes it")
        for alias, (was, now) in sorted(report["aliases"].items()):
            print(f"  @{alias}: v{was} is tainted; " + (f"now v{now} (latest clean version that passed the gate)"
                                                         if now else "removed (the clean retrain takes it)"))
    else:
        print("impact report only: run again with --apply to remove it")
    return 0


@one_line_errors
def cmd_audit(args: argparse.Namespace) -> int:
    from vision_assets.core.registry import read_audit

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise CommandError(f"--since {args.since!r}: not a date (YYYY-MM-DD or an ISO time)") from None
    table = read_audit(open_lake(prepare_environment()), since)
    if args.json:
        print(json.dumps(table.to_dict("records"), indent=2))
        return 0
    if table.empty:
        print("no audit events" + (f" since {args.since}" if args.since else ""))
    for row in table.itertuples():
        print(f"{row.time}  {row.action:<22} {row.actor:<16} {row.object}" + (f"  reason: {row.reason}" if row.reason else ""))
    return 0


def register(sub) -> None:
    pull = sub.add_parser("pull", help="download a model package, verified byte for byte against its manifest")
    pull.add_argument("model", nargs="?", help="MODEL[@ALIAS|VERSION] (default: the champion)")
    pull.add_argument("--out", required=True, help="a new or empty folder")
    pull.add_argument("--reason", help="recorded in the audit trail")
    pull.set_defaults(func=cmd_pull)
    forget = sub.add_parser("forget", help="what derives from a video; with --apply, remove it from the lake")
    forget.add_argument("video", help="sha256 (or a prefix of 6+ characters) or the file name")
    forget.add_argument("--apply", action="store_true", help="remove it (without: the impact report only)")
    forget.add_argument("--reason", help="why (required; recorded in the audit trail)")
    forget.add_argument("--json", action="store_true")
    forget.set_defaults(func=cmd_forget)
    audit = sub.add_parser("audit", help="the audit trail: promotions, rollbacks, overrides, forgets, pulls")
    audit.add_argument("--since", help="YYYY-MM-DD or an ISO time")
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(func=cmd_audit)
