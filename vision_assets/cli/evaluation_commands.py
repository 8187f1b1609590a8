"""Evaluation commands: track-eval (MOTChallenge files) and det-eval (COCO files) outside Dagster, and errors (a
model's stored evaluation errors, listed or exported).

`register(subparsers)` adds both to an argparse subparsers object; each handler returns the exit code:
0 scored, 2 bad input (one line on stderr naming the file and the problem, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vision_assets.core.errors import VisionError
from vision_assets.core.numbers import json_ready

# Core imports stay inside the commands: each command loads only what it uses (motmetrics, pycocotools).

TRACK_TEXT_FIELDS = (
    "hota", "deta", "assa", "mota", "motp", "idf1", "idp", "idr", "recall", "precision", "num_switches",
    "num_fragmentations", "num_false_positives", "num_misses", "num_objects", "num_predictions", "num_frames",
)  # fmt: skip


def register(subparsers) -> None:
    track = subparsers.add_parser("track-eval", help="score a tracker's MOTChallenge file against ground truth")
    track.add_argument("gt", metavar="GT", help="ground-truth file (MOTChallenge gt.txt)")
    track.add_argument("pred", metavar="PRED", help="tracker output file")
    track.add_argument("--format", choices=["mot"], default="mot", help="file format of both files (default: mot)")
    track.add_argument("--iou-threshold", type=float, default=0.5, help="CLEAR/identity match IoU (default 0.5)")
    track.add_argument("--json", action="store_true", help="print one JSON object")
    track.set_defaults(func=cmd_track_eval)
    det = subparsers.add_parser("det-eval", help="COCO bbox metrics of a results file against a COCO dataset")
    det.add_argument("gt", metavar="GT.json", help="COCO ground-truth file")
    det.add_argument("detections", metavar="DETECTIONS.json", help="COCO results file (a list of detections)")
    det.add_argument("--json", action="store_true", help="print one JSON object")
    det.set_defaults(func=cmd_det_eval)
    errors = subparsers.add_parser("errors", help="list or export a model's evaluation errors (worst first)")
    errors.add_argument("model", metavar="MODEL", nargs="?", default="champion",
                        help="a model version number, 'champion' (default), an evaluation key or a checkpoint sha256")
    errors.add_argument("--kind", choices=["fn", "fp", "loc", "cls", "dup", "idsw", "frag"], help="only this kind")
    errors.add_argument("--class", dest="class_name", metavar="NAME", help="only errors of this class")
    errors.add_argument("--limit", type=int, default=20, help="rows to list (default 20; --out exports all)")
    errors.add_argument("--out", metavar="DIR", help="write each error's crop and errors.csv into DIR")
    errors.add_argument("--json", action="store_true", help="print the rows as JSON")
    errors.set_defaults(func=cmd_errors)


def cmd_track_eval(args: argparse.Namespace) -> int:
    from vision_assets.core.evaluation.tracking import check_tracks, evaluate_tracking, read_mot_tracks

    if not 0.0 < args.iou_threshold <= 1.0:
        return _fail("track-eval", "--iou-threshold", "must be in (0, 1]")
    tables = []
    for path, is_gt in ((Path(args.gt), True), (Path(args.pred), False)):
        problem = _unreadable(path)
        if problem:
            return _fail("track-eval", path, problem)
        try:
            tables.append(check_tracks(read_mot_tracks(path, ground_truth=is_gt), str(path)))
        except OSError as exc:
            return _fail("track-eval", path, f"cannot be read ({exc.strerror or exc})")
        except ValueError as exc:  # AnnotationFormatError included
            return _fail("track-eval", path, _without_prefix(str(exc), path))
    result = evaluate_tracking(*tables, iou_threshold=args.iou_threshold)
    if args.json:
        print(json.dumps(json_ready(result), indent=2))
        return 0
    print(f"tracking: {args.gt} vs {args.pred} (CLEAR/identity IoU >= {args.iou_threshold:g}; HOTA over 0.05..0.95)")
    for name in TRACK_TEXT_FIELDS:
        value = result[name]
        print(f"  {name:<20} {value}" if isinstance(value, int) else f"  {name:<20} {value:.6f}")
    return 0


def cmd_det_eval(args: argparse.Namespace) -> int:
    from vision_assets.core.evaluation.detection_files import InputFileError, score_coco_files

    try:
        result = score_coco_files(Path(args.gt), Path(args.detections))
    except InputFileError as exc:
        return _fail("det-eval", exc.path, exc.problem)
    if args.json:
        print(json.dumps(json_ready(result), indent=2))
        return 0
    print(f"COCO bbox: {args.detections} vs {args.gt} "
          f"({result['n_images']} images, {result['n_ground_truth']} boxes, {result['n_detections']} detections)")
    for name, value in zip(result["stat_names"], result["stats"]):
        print(f"  {name:<6} {value:.6f}" + ("  (undefined: no ground truth in this range)" if value == -1 else ""))
    print("per-class AP50-95:")
    for name, ap in result["per_class_ap"].items():
        print(f"  {name:<20} " + ("n/a (no ground truth)" if ap is None else f"{ap:.6f}"))
    return 0


def cmd_errors(args: argparse.Namespace) -> int:
    from vision_assets.cli.environment import open_lake, prepare_environment
    from vision_assets.core.evaluation.error_browser import (
        LISTED_COLUMNS,
        EvaluationNotFound,
        error_rows,
        export_errors,
        find_report,
    )
    from vision_assets.core.evaluation.error_table import caption

    settings = prepare_environment()
    lake = open_lake(settings)
    try:
        reference = _checkpoint_of(settings, args.model)
        report = find_report(lake, reference)
        rows = error_rows(lake, report, kind=args.kind, class_name=args.class_name)
    except (EvaluationNotFound, LookupError, VisionError) as exc:
        return _fail("errors", args.model, str(exc))
    if args.out:
        written = export_errors(lake, rows, Path(args.out))
        print(f"{len(rows)} error(s) of evaluation {report['evaluation_key']} -> {args.out} "
              f"({len(written) - 1} crops, errors.csv)")
        return 0
    shown = rows.head(max(args.limit, 0))
    if args.json:
        records = [{**{k: r.get(k) for k in LISTED_COLUMNS}, "caption": caption(r)} for r in shown.to_dict("records")]
        print(json.dumps(json_ready({"evaluation_key": report["evaluation_key"], "total": len(rows),
                                      "errors": records}), indent=2, default=str))
        return 0
    print(f"evaluation {report['evaluation_key']}: {len(rows)} error(s)"
          + (f", showing the worst {len(shown)}" if len(shown) < len(rows) else ""))
    for r in shown.to_dict("records"):
        print(f"  {caption(r)}\n      {r.get('crop_key') or '(no crop)'}")
    return 0


def _checkpoint_of(settings, model: str) -> str:
    """A model version (number or 'champion') as its checkpoint sha256; anything else is passed on as it is."""
    if model != "champion" and not model.isdigit():
        return model
    from mlflow.exceptions import MlflowException

    from vision_assets.cli.environment import open_registry
    from vision_assets.core.registry import DEFAULT_MODEL_NAME

    registry = open_registry(settings)
    try:
        version = (registry.champion(DEFAULT_MODEL_NAME) if model == "champion"
                   else registry.client.get_model_version(DEFAULT_MODEL_NAME, model))
    except MlflowException as exc:
        raise LookupError(f"{DEFAULT_MODEL_NAME} v{model} is not in the registry ({exc.error_code})") from exc
    if version is None:
        raise LookupError(f"{DEFAULT_MODEL_NAME} has no champion yet")
    sha = version.tags.get("checkpoint_sha256")
    if not sha:
        raise LookupError(f"{DEFAULT_MODEL_NAME} v{version.version} has no checkpoint_sha256 tag")
    return sha


def _fail(command: str, path, problem: str) -> int:
    print(f"vision-assets {command}: {path}: {problem}", file=sys.stderr)
    return 2


def _unreadable(path: Path) -> str | None:
    if not path.exists():
        return "no such file"
    if not path.is_file():
        return "not a file"
    return None


def _without_prefix(message: str, path: Path) -> str:
    # The MOT reader already names the file; say it once.
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message
