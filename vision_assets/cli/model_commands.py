"""Model commands: lineage (verified to the byte), promote (over the gate with a reason) and rollback on the
registry, and the Dagster UI on the same instance."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from vision_assets.cli.environment import open_lake, open_registry, prepare_environment
from vision_assets.core.errors import VisionError
from vision_assets.settings import PROJECT_ROOT


class CommandError(VisionError):
    """A one-line failure of a registry command: printed as `vision-assets: error: ...`, exit 2."""


def one_line_errors(command):
    """Registry, lineage and package problems as one redacted line and exit 2, never a traceback."""
    import functools

    @functools.wraps(command)
    def wrapper(args: argparse.Namespace) -> int:
        from vision_assets.core.registry import RegistryError, RegistryUnavailable, redact
        from vision_assets.core.registry.lineage import LineageMismatch
        from vision_assets.core.registry.package import PackageTampered

        try:
            return command(args)
        except (CommandError, RegistryError, RegistryUnavailable, PackageTampered, LineageMismatch, LookupError,
                FileExistsError, VisionError) as error:
            message = error.args[0] if isinstance(error, KeyError) and error.args else error
            print(f"vision-assets: error: {redact(message)}", file=sys.stderr)
            return 2

    return wrapper


def split_model_ref(ref: str | None, default_name: str) -> tuple[str, str | None]:
    """MODEL[@ALIAS|VERSION] (or @ALIAS, VERSION alone) -> (model name, alias or version or None)."""
    if not ref:
        return default_name, None
    if ref.isdigit():
        return default_name, ref
    name, _, which = ref.partition("@")
    return name or default_name, which or None


@one_line_errors
def cmd_lineage(args: argparse.Namespace) -> int:
    """Which exact bytes made this model? (or, with --video, what derives from this video). Reads only."""
    from vision_assets.core.registry import DEFAULT_MODEL_NAME
    from vision_assets.core.registry.forgotten import describe_forget
    from vision_assets.core.registry.lineage import LineageMismatch, full_lineage, verify_lineage, video_lineage
    from vision_assets.core.registry.package import resolve_version

    settings = prepare_environment()
    registry, lake = open_registry(settings), open_lake(settings)
    name, which = split_model_ref(args.model, DEFAULT_MODEL_NAME)
    if args.video:
        report = video_lineage(registry, lake, name, args.video)
        _print(report, args.json, _video_text)
        return 0
    from vision_assets.core.registry.served import served_table, served_text

    served = [interval.as_dict() for interval in served_table(lake, name)]
    if args.served:  # every version: which served which scene when
        _print({"model": name, "served": served}, args.json,
               lambda report: "\n".join([f"{name}", *served_text(report["served"])]))
        return 0
    version = resolve_version(registry, name, args.version or which)
    report = full_lineage(registry, lake, name, version)
    report["served"] = [row for row in served if row["version"] == str(version.version)]
    if args.verify:
        try:
            report["verified"] = verify_lineage(lake, report)
        except LineageMismatch as error:
            if report["forgotten"]:  # what is missing was deleted on purpose: say so, still exit 2
                raise LineageMismatch(f"{error}; {name} v{report['model']['version']} is tainted: "
                                      + "; ".join(describe_forget(r) for r in report["forgotten"])) from None
            raise
    _print(report, args.json, _lineage_text)
    return 0


@one_line_errors
def cmd_promote(args: argparse.Namespace) -> int:
    """Make a version the champion; over the gate's refusal only with a reason, which is recorded."""
    from vision_assets.core.registry import DEFAULT_MODEL_NAME, GATE_TAG, record_event

    settings = prepare_environment()
    registry = open_registry(settings)
    if args.canary or args.complete:
        return _canary(args, settings, registry, DEFAULT_MODEL_NAME)
    version = registry.get_version(DEFAULT_MODEL_NAME, args.version)
    gate = version.tags.get(GATE_TAG, "")
    override = gate != "pass"
    taint = version.tags.get("tainted", "")  # core/registry/forget.py's TAINTED_TAG
    if taint and not (args.reason or "").strip():
        raise CommandError(f"{DEFAULT_MODEL_NAME} v{args.version} is tainted ({taint}): it was trained on forgotten "
                           "footage; promoting it needs --reason TEXT")
    if override and not (args.reason or "").strip():
        raise CommandError(f"{DEFAULT_MODEL_NAME} v{args.version}: the promotion gate says {gate or 'nothing'} "
                           f"({version.tags.get('gate_regressed') or version.tags.get('champion_decision', '-')}): "
                           "promoting it overrides the gate and needs --reason TEXT")
    lake = open_lake(settings)
    if taint:  # audited before the alias moves: a tainted champion is never unrecorded
        record_event(lake, "taint_override", f"{DEFAULT_MODEL_NAME} v{args.version}", args.reason,
                     details=f"tainted: {taint}")
    registry.promote(DEFAULT_MODEL_NAME, args.version)
    if override:
        registry.client.set_model_version_tag(DEFAULT_MODEL_NAME, args.version, "gate_override", args.reason[:4000])
    if taint:
        registry.client.set_model_version_tag(DEFAULT_MODEL_NAME, args.version, "taint_override", args.reason[:4000])
    record_event(lake, "gate_override" if override else "promote",
                 f"{DEFAULT_MODEL_NAME} v{args.version}", args.reason or "", details=f"gate: {gate or '-'}")
    print(f"{DEFAULT_MODEL_NAME}: champion is v{args.version}" + (" (gate overridden)" if override else "")
          + (f" (tainted: {taint})" if taint else ""))
    return 0


def _canary(args: argparse.Namespace, settings, registry, name: str) -> int:
    """`--canary SCENES`: the version serves beside the champion on those scenes (footage_monitoring watches it
    and rolls it back when its checks fail); `--complete`: the canary becomes champion."""
    from vision_assets.core.monitoring.canary import complete_canary, start_canary

    if args.canary and args.complete:
        raise CommandError(f"{name} v{args.version}: --canary starts a canary and --complete ends one; give one")
    if args.complete:
        complete_canary(registry, open_lake(settings), name, args.version, args.reason or "")
        print(f"{name}: canary v{args.version} completed, champion is v{args.version}")
        return 0
    scenes = args.canary.split(",")
    start_canary(registry, open_lake(settings), name, args.version, scenes, args.reason or "")
    print(f"{name}: v{args.version} is the canary on {', '.join(sorted(s.strip() for s in scenes if s.strip()))}")
    return 0


@one_line_errors
def cmd_rollback(args: argparse.Namespace) -> int:
    from vision_assets.core.registry import DEFAULT_MODEL_NAME, RegistryError, record_event

    settings = prepare_environment()
    registry = open_registry(settings)
    current = registry.champion(DEFAULT_MODEL_NAME)
    try:
        restored = registry.rollback(DEFAULT_MODEL_NAME)
    except RegistryError as error:
        raise CommandError(f"rollback refused: {error}") from None
    record_event(open_lake(settings), "rollback", f"{DEFAULT_MODEL_NAME} v{current.version} -> v{restored}",
                 args.reason or "")
    print(f"{DEFAULT_MODEL_NAME}: champion rolled back to v{restored}")
    return 0


def register(sub) -> None:
    lineage = sub.add_parser("lineage", help="every byte behind a model version, or what derives from a video")
    lineage.add_argument("model", nargs="?", help="MODEL[@ALIAS|VERSION] (default: the champion)")
    lineage.add_argument("--version", help="model version (default: the champion)")
    lineage.add_argument("--video", metavar="SHA|NAME", help="the reverse: partitions, frames, datasets, checkpoints "
                                                             "and model versions that derive from this video")
    lineage.add_argument("--verify", action="store_true", help="recompute every hash from the lake; fail on the first "
                                                              "mismatch")
    lineage.add_argument("--served", action="store_true", help="which version served which scene when (from the "
                                                               "audit trail: promotions, canaries, rollbacks)")
    lineage.add_argument("--json", action="store_true")
    lineage.set_defaults(func=cmd_lineage)
    promote = sub.add_parser("promote", help="make a model version the champion (over the gate: with --reason)")
    promote.add_argument("version")
    promote.add_argument("--reason", help="why; required to override the promotion gate, recorded in the audit trail")
    promote.add_argument("--canary", metavar="SCENES", help="comma-separated scenes: the version runs beside the "
                                                            "champion there first (watched, rolled back on failure)")
    promote.add_argument("--complete", action="store_true", help="make the canary version the champion")
    promote.set_defaults(func=cmd_promote)
    rollback = sub.add_parser("rollback", help="give the champion alias back to the previous champion")
    rollback.add_argument("--reason", help="recorded in the audit trail")
    rollback.set_defaults(func=cmd_rollback)


def _print(report: dict, as_json: bool, text) -> None:
    print(json.dumps(report, indent=2, default=str) if as_json else text(report))


def _lineage_text(report: dict) -> str:
    model, dataset, training = report["model"], report["dataset"], report["training"]
    lines = [f"{model['name']} v{model['version']} (mlflow run {model['mlflow_run_id']})",
             f"  checkpoint {report['checkpoint']['key']}",
             f"  training record {training.get('record') or '-'}: git {training.get('git_commit', '-')}, "
             f"config {json.dumps(training.get('config') or {}, sort_keys=True)}",
             f"  dataset {dataset['version']}: {dataset['manifest']}, label versions {', '.join(dataset['label_versions'])}",
             f"  {len(report['frames'])} frames, {len(report['videos'])} videos, {len(report['label_files'])} label files"]
    for video in report["videos"]:
        lines.append(f"    video {video['sha256'][:16]} {video.get('source_name', '')} {video['key']}")
    strategies = sorted({(f["strategy"], json.dumps(f["params"], sort_keys=True)) for f in report["frames"]})
    lines += [f"    sampled by {name} {params}" for name, params in strategies]
    for label in report["label_files"]:
        lines.append(f"    labels {label['sha256'][:16]} {label['source_file']} ({label['format']}) {label['key']}")
    if report.get("forgotten") or model["tags"].get("tainted"):
        from vision_assets.core.registry.forgotten import describe_forget

        lines.append(f"  TAINTED: {model['tags'].get('tainted', 'made from forgotten footage')}")
        lines += [f"    forgotten: {describe_forget(record)}" for record in report.get("forgotten", [])]
    for qc in report["qc"]:
        lines.append(f"    qc {qc.get('scene')}/{qc.get('day')}: passed={qc.get('passed')} pass_rate={qc.get('pass_rate')}")
    if "served" in report:
        from vision_assets.core.registry.served import served_text

        lines += served_text(report["served"])
    if "verified" in report:
        counts = report["verified"]
        lines.append("verified: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()) + ": every hash matches")
    return "\n".join(lines)


def _video_text(report: dict) -> str:
    video = report["video"]
    lines = [f"video {video['sha256']} ({', '.join(video['source_names'])})",
             "  partitions: " + ", ".join(f"{p['scene']}/{p['day']}" for p in report["partitions"]),
             f"  frames: {report['frames']['count']}",
             "  dataset versions: " + (", ".join(report["dataset_versions"]) or "-"),
             "  checkpoints: " + (", ".join(c["checkpoint_sha256"][:16] for c in report["checkpoints"]) or "-"),
             "  model versions: " + (", ".join(f"v{m['version']}" + (" (tainted)" if m["tainted"] else "")
                                              for m in report["model_versions"]) or "-")]
    return "\n".join(lines)


def cmd_ui(args: argparse.Namespace) -> int:
    """`dagster dev` (webserver + daemon) on the same instance and data as the demo, and the MLflow UI on the same
    tracking store beside it (its own port), which asset metadata links to (VISION_MLFLOW_UI_URL).

    Each runs in its own process group, so stopping this command (Ctrl-C, SIGTERM, SIGHUP) stops everything they
    started too: dagster dev's webserver, daemon and code servers, and MLflow's workers."""
    import signal
    import subprocess

    from vision_assets.core.registry.relocate import repair_copied_store
    from vision_assets.links_server import DEFAULT_LINKS_PORT, LINKS_URL_ENV, LinksServer

    settings = prepare_environment()
    settings.project()  # a bad project file is one line here, not a code location error in the UI
    # The MLflow UI reads the store directly: a copied data folder's locations are its own before it starts.
    repair_copied_store(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    import dagster as dg

    # The instance's databases are created here, once: dagster dev's webserver, daemon and code server opening a
    # fresh folder at the same moment raced on them ("alembic_version has more than one head"), and the code
    # location then never loaded.
    dg.DagsterInstance.get().dispose()
    mlflow_port = getattr(args, "mlflow_port", 5000)
    mlflow_url = os.environ.get("VISION_MLFLOW_UI_URL") or f"http://{args.host}:{mlflow_port}"
    links_port = getattr(args, "links_port", DEFAULT_LINKS_PORT)
    # Metadata links point at the links server (a stable address), which redirects to the MLflow UI where it is now.
    links_url = os.environ.get(LINKS_URL_ENV) or f"http://{args.host}:{links_port}"
    env = {**os.environ, "VISION_MLFLOW_UI_URL": mlflow_url, LINKS_URL_ENV: links_url}
    mlflow = Path(sys.executable).with_name("mlflow")
    mlflow_command = [str(mlflow), "ui", "--backend-store-uri", settings.mlflow_tracking_uri,
                      "--default-artifact-root", settings.mlflow_artifact_root,
                      "--host", args.host, "--port", str(mlflow_port), "--workers", "1"]
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", args.host, "-p", str(args.port)]
    print(f"DAGSTER_HOME={settings.dagster_home}\nUI: http://{args.host}:{args.port}\nMLflow UI: {mlflow_url}\n"
          f"Report pages and links: {links_url}/lake/evaluations/<key>/report.html\n"
          f"Scene x day grid: {links_url}/grid", flush=True)  # at once, also when stdout is a file or a pipe
    lake_root = Path(settings.lake_root) if "://" not in settings.lake_root else settings.data_dir / "lake"
    links = LinksServer(lake_root, mlflow_url, settings.mlflow_tracking_uri, host=args.host, port=links_port,
                        dagster_home=settings.dagster_home, dagster_url=f"http://{args.host}:{args.port}",
                        lake_uri=settings.lake_root)
    # dagster dev restarted when a child of it dies, its code location reloaded when sensors stop (ui_supervisor.py)
    from vision_assets.local.ui_supervisor import DagsterDevSupervisor

    supervisor = DagsterDevSupervisor(command, str(settings.dagster_home), env, f"http://{args.host}:{args.port}")
    tracking = None

    def stop(signum, _frame):
        raise _Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    links.__enter__()
    try:
        # Not the repo root, whose dagster.yaml is only the template.
        tracking = subprocess.Popen(mlflow_command, cwd=settings.dagster_home, env=env, start_new_session=True)
        return supervisor.run()
    except KeyboardInterrupt:
        return 130
    except _Stopped as stopped:
        return 128 + stopped.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        links.__exit__(None, None, None)
        stop_process_groups([child for child in (tracking, supervisor.process) if child is not None])


class _Stopped(Exception):  # noqa: N818 - a signal, not an error
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def stop_process_groups(children, grace_s: float = 20.0) -> None:
    """SIGINT to each child's process group (dagster dev shuts its webserver and daemon down on it, as on Ctrl-C),
    then whatever of a group is left after grace_s is killed: no process outlives the command."""
    import signal
    import subprocess
    import time

    def signal_group(child, sig) -> None:
        try:
            os.killpg(child.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone

    for child in children:
        signal_group(child, signal.SIGINT)
    deadline = time.monotonic() + grace_s
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    # A leader may be gone (and reaped) while its webserver, daemon or workers still shut down.
    while time.monotonic() < deadline and any(_group_alive(child.pid) for child in children):
        time.sleep(0.2)
    for child in children:
        signal_group(child, signal.SIGKILL)
        if child.poll() is None:
            child.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False
