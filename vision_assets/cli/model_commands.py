"""Model commands: lineage, promote and rollback on the registry, and the Dagster UI on the same instance."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from vision_assets.cli.environment import open_lake, open_registry, prepare_environment
from vision_assets.settings import PROJECT_ROOT


def cmd_lineage(args: argparse.Namespace) -> int:
    """Which exact video bytes and label versions made this model?"""
    from vision_assets.core.registry import DEFAULT_MODEL_NAME, model_lineage

    settings = prepare_environment()
    report = model_lineage(open_registry(settings), open_lake(settings), DEFAULT_MODEL_NAME, args.version)
    if report is None:
        print(f"model {DEFAULT_MODEL_NAME} has no champion yet", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, default=str))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from vision_assets.core.registry import DEFAULT_MODEL_NAME

    open_registry(prepare_environment()).promote(DEFAULT_MODEL_NAME, args.version)
    print(f"{DEFAULT_MODEL_NAME}: champion is v{args.version}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from vision_assets.core.registry import DEFAULT_MODEL_NAME

    registry = open_registry(prepare_environment())
    try:
        restored = registry.rollback(DEFAULT_MODEL_NAME)
    except LookupError as error:
        print(f"rollback refused: {error}", file=sys.stderr)
        return 1
    print(f"{DEFAULT_MODEL_NAME}: champion rolled back to v{restored}")
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
