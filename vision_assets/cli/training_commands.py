"""Training commands: `reproduce` a model version's training from its record, run a `sweep` outside the schedule."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vision_assets.cli.environment import open_lake, open_registry, prepare_environment
from vision_assets.core.errors import VisionError


def register(sub) -> None:
    reproduce = sub.add_parser("reproduce", help="retrain a model version from its record in a fresh work folder and "
                                                 "compare weights, per-epoch losses and test metrics")
    reproduce.add_argument("model", help="MODEL, MODEL@ALIAS or MODEL@VERSION (MODEL alone: its champion)")
    reproduce.add_argument("--no-test", action="store_true", help="skip evaluating both on the test split")
    reproduce.add_argument("--json", action="store_true", help="print one JSON object")
    reproduce.set_defaults(func=cmd_reproduce)
    sweep = sub.add_parser("sweep", help="a hyper-parameter sweep on the latest dataset version, as a Dagster run of "
                                         "trained_checkpoint; the best trial by val fitness becomes the checkpoint")
    sweep.add_argument("--space", required=True, help="the sweep space YAML (README, Training)")
    sweep.add_argument("--json", action="store_true", help="print one JSON object")
    sweep.set_defaults(func=cmd_sweep)


def resolve_model_version(registry, spec: str):
    """MODEL[@ALIAS|VERSION] -> the MLflow model version."""
    from mlflow.exceptions import MlflowException

    name, _, which = spec.partition("@")
    which = which or "champion"
    try:
        if which.isdigit():
            return registry.client.get_model_version(name, which)
        return registry.client.get_model_version_by_alias(name, which)
    except MlflowException as error:
        raise LookupError(f"{spec}: no such model version or alias ({str(error).splitlines()[0]})") from error


def cmd_reproduce(args: argparse.Namespace) -> int:
    from vision_assets.core.training.reproduce import find_record, reproduce

    settings = prepare_environment()
    registry, lake = open_registry(settings), open_lake(settings)
    try:
        version = resolve_model_version(registry, args.model)
        tags = registry.client.get_run(version.run_id).data.tags
        record = find_record(lake, tags.get("fingerprint"), version.tags.get("checkpoint_sha256"))
        report = reproduce(lake, record, settings.work_dir, evaluate=not args.no_test)
    except (LookupError, VisionError, FileNotFoundError) as error:
        print(f"reproduce: {error}", file=sys.stderr)
        return 1
    report["model"] = f"{version.name} v{version.version}"
    if args.json:
        print(json.dumps(report, default=str))
    else:
        print(render_reproduction(report))
    return 0 if report["identical"] else 2


def render_reproduction(report: dict) -> str:
    lines = [f"{report['model']} (fingerprint {report['fingerprint']}, dataset {report['dataset_version']})",
             f"{'':24}{'original':>20}  {'rerun':>20}",
             f"{'weights sha256':24}{report['original_sha256'][:20]:>20}  {report['rerun_sha256'][:20]:>20}",
             f"{'checkpoint file sha256':24}{report['original_checkpoint_sha256'][:20]:>20}  "
             f"{report['rerun_checkpoint_sha256'][:20]:>20}",
             f"{'best epoch':24}{report['best_epoch']['original']!s:>20}  {report['best_epoch']['rerun']!s:>20}"]
    for row in report["epochs"]:
        for name in ("train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/mAP50-95(B)"):
            before, after = row["original"].get(name), row["rerun"].get(name)
            lines.append(f"{'epoch ' + str(row['epoch']) + ' ' + name:24}{_num(before):>20}  {_num(after):>20}")
    for name, before in (report.get("test_metrics") or {}).get("original", {}).items():
        lines.append(f"{'test ' + name:24}{_num(before):>20}  {_num(report['test_metrics']['rerun'].get(name)):>20}")
    lines.append("identical weights" if report["identical"] else "the weights DIFFER")
    for difference in report["environment_differences"]:
        lines.append(f"warning: environment differs: {difference}")
    return "\n".join(lines)


def _num(value) -> str:
    return "-" if value is None else f"{value:.6f}"


def cmd_sweep(args: argparse.Namespace) -> int:
    settings = prepare_environment()
    space_file = Path(args.space).resolve()
    from vision_assets.core.training.sweep import load_space

    load_space(space_file)  # a bad file fails here, before Dagster starts: a SweepSpaceError, one line, exit 2
    import dagster as dg

    from vision_assets.core.lake import keys
    from vision_assets.definitions import defs
    from vision_assets.defs.datasets import TRAINING_RUN_TAGS
    from vision_assets.local.daemon import QUIET_CONSOLE

    lake = open_lake(settings)
    if not lake.exists("assets/dataset_split.json"):
        print("sweep: dataset_split was never materialized: run the pipeline (vision-assets demo/ingest) first",
              file=sys.stderr)
        return 1
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(), asset_selection=[dg.AssetKey("trained_checkpoint")],
        run_config={**QUIET_CONSOLE, "ops": {"trained_checkpoint": {"config": {"sweep_space": str(space_file)}}}},
        tags={**TRAINING_RUN_TAGS, "vision/sweep": space_file.name}, raise_on_error=False)
    if not result.success:
        print(f"sweep: Dagster run {result.run_id} failed; see its log in the UI", file=sys.stderr)
        return 1
    record = lake.read_json("assets/trained_checkpoint.json")
    summary = lake.read_json(keys.sweep_record_key(record["sweep_id"]))
    summary["dagster_run_id"] = result.run_id
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        from vision_assets.core.training.sweep import ranking_markdown

        trials = [{**t, "record": t if t.get("fingerprint") else None} for t in summary["trials"]]
        print(ranking_markdown(trials))
        print(f"sweep {summary['sweep_id']}: {summary['trained']} trained, {summary['reused']} reused; best "
              f"{summary['best_fingerprint']} is trained_checkpoint (Dagster run {result.run_id})")
    return 0
