"""Evaluation commands: track-eval (MOTChallenge files) and det-eval (COCO files), outside Dagster.

`register(subparsers)` adds both to an argparse subparsers object; each handler returns the exit code:
0 scored, 2 bad input (one line on stderr naming the file and the problem, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

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
        print(json.dumps(_json_ready(result), indent=2))
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
        print(json.dumps(_json_ready(result), indent=2))
        return 0
    print(f"COCO bbox: {args.detections} vs {args.gt} "
          f"({result['n_images']} images, {result['n_ground_truth']} boxes, {result['n_detections']} detections)")
    for name, value in zip(result["stat_names"], result["stats"]):
        print(f"  {name:<6} {value:.6f}" + ("  (undefined: no ground truth in this range)" if value == -1 else ""))
    print("per-class AP50-95:")
    for name, ap in result["per_class_ap"].items():
        print(f"  {name:<20} " + ("n/a (no ground truth)" if ap is None else f"{ap:.6f}"))
    return 0


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


def _json_ready(value):
    """NaN and infinities are not JSON: undefined numbers (e.g. MOTP with no match) become null."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
