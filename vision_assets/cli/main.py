"""`vision-assets`: the demo, ingest without the daemon, lineage audits, promote and rollback.

How a command is added (and why `vision-assets --help` starts in a fraction of a second):
- A command lives in a `vision_assets/cli/<area>_commands.py` module with `register(sub)`, which adds its
  subparser and `set_defaults(func=cmd_x)`; `build_parser` below calls it.
- A command module imports only the standard library and light project modules (`cli.environment`,
  `core.errors`, `settings`) at module level. Everything heavy (Dagster, pandas, torch, Ultralytics, MLflow,
  motmetrics, even numpy/cv2/av) is imported inside the `cmd_*` function that needs it, so each command pays
  only for itself. tests/cli/test_cli_startup.py fails when a module-level import breaks this.
- Package `__init__`s under `core/` resolve their names lazily (`vision_assets.lazy.lazy_exports`), so importing
  one light submodule does not import its heavy siblings.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings

from vision_assets.cli import (
    backfill_commands,
    compare_command,
    delivery_commands,
    evaluation_commands,
    labelling_commands,
    model_commands,
    project_commands,
    training_commands,
)
from vision_assets.cli.data_commands import cmd_demo, cmd_ingest, cmd_qc, cmd_sample, cmd_summary
from vision_assets.cli.model_commands import cmd_ui


def main(argv: list[str] | None = None) -> int:
    # Dagster flags parameters it calls beta on every use; a terminal user can do nothing about them.
    warnings.filterwarnings("ignore", message=".*currently in beta.*")
    originals = _escape_output()
    try:
        return _run(build_parser().parse_args(argv))
    finally:
        sys.stdout, sys.stderr = originals  # an in-process caller (tests, notebooks) gets its streams back


def _run(args: argparse.Namespace) -> int:
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, where a closed pipe is still ours to handle, not at interpreter exit
        return code
    except BrokenPipeError as error:
        if _stdout_closed():
            return _quiet_broken_pipe()
        return _one_line_failure(error, debug=args.debug or os.environ.get("VISION_DEBUG") == "1")
    except Exception as error:  # every failure is one line; --debug / VISION_DEBUG=1 shows the traceback
        return _one_line_failure(error, debug=args.debug or os.environ.get("VISION_DEBUG") == "1")


def _escape_output() -> tuple:
    """Names are someone else's data: control and bidi characters in anything printed are escaped (core/text.py).
    Returns the streams it replaced."""
    from vision_assets.core.text import EscapingStream

    originals = sys.stdout, sys.stderr
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, EscapingStream):  # stderr carries coloured log lines: their colours stay
            setattr(sys, name, EscapingStream(stream, allow_colour=name == "stderr"))
    return originals


def _stdout_closed() -> bool:
    """Whether the BrokenPipeError was our stdout's (the reader went away), not a socket's: a pipe without a
    reader polls as an error."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _quiet_broken_pipe() -> int:
    """`vision-assets summary | head`: the reader has what it wanted. Like Unix tools, stop without a word (exit
    status 128 + SIGPIPE), and keep Python from complaining when it flushes stdout at exit."""
    import signal

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


def _one_line_failure(error: Exception, debug: bool) -> int:
    from vision_assets.core.errors import VisionError

    if debug:
        traceback.print_exc()
    message = _redacted(" ".join(str(error).split()) or type(error).__name__)
    full = _disk_full(error)
    if full:
        print(f"vision-assets: error: {_redacted(full)}", file=sys.stderr)
        return 2
    if isinstance(error, VisionError):
        print(f"vision-assets: error: {message}", file=sys.stderr)
        return 2
    hint = "" if debug else " (run with --debug or VISION_DEBUG=1 for the traceback)"
    print(f"vision-assets: error: unexpected {type(error).__name__}: {message}{hint}", file=sys.stderr)
    return 1


def _disk_full(error: BaseException) -> str:
    """For a write that failed because a disk is full (or failing), which folder it is: the data folder's parts
    (instance, MLflow store, lake, work folder) with the least free space. Empty for any other error."""
    from vision_assets.core.storage import full_folder_message

    return full_folder_message(error)


def _redacted(message: str) -> str:
    """Connection strings in an error (a database-backed MLflow) keep their password out of the terminal."""
    try:
        from vision_assets.core.registry.redact import redact
    except ImportError:
        return message
    return redact(message)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vision-assets", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="print the traceback of a failure")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data_commands(sub)
    _add_model_commands(sub)
    evaluation_commands.register(sub)  # track-eval, det-eval, errors
    compare_command.register(sub)  # compare A B
    training_commands.register(sub)  # reproduce, sweep
    backfill_commands.register(sub)  # backfill
    project_commands.register(sub)  # config, run
    labelling_commands.register(sub)  # labelstudio push|pull, queue
    return parser


def _add_data_commands(sub) -> None:
    demo = sub.add_parser("demo", help="generate demo videos, then `run`: the whole asset graph once, in-process")
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
    qc.add_argument("--classes", help="comma-separated known classes, or 'file' for the classes the file uses "
                                      "(default: the project's classes and aliases, vision.yaml)")
    qc.add_argument("--limit", type=int, default=20, help="rejected rows to print (text output)")
    qc.add_argument("--json", action="store_true", help="print one JSON object")
    qc.set_defaults(func=cmd_qc)
    summary = sub.add_parser("summary", help="what the lake and registry hold")
    summary.add_argument("--json", action="store_true")
    summary.set_defaults(func=cmd_summary)


def _add_model_commands(sub) -> None:
    model_commands.register(sub)  # lineage, promote, rollback
    delivery_commands.register(sub)  # pull, forget, audit
    ui = sub.add_parser("ui", help="dagster dev on the demo's instance and data, and the MLflow UI")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument("--mlflow-port", type=int, default=5000, help="port of the MLflow UI served beside it")
    ui.add_argument("--links-port", type=int, default=3001,
                    help="port of the links server: report pages and stable redirects to MLflow")
    ui.set_defaults(func=cmd_ui)


if __name__ == "__main__":
    sys.exit(main())
