"""`vision-assets compare A B`: two models (versions, aliases, evaluation keys or checkpoint sha256s) side by side
on the test set both were evaluated on, evaluating the one that is missing there; prints the headline deltas
with their 95 % intervals and writes the comparison page beside B's evaluation."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from vision_assets.core.errors import VisionError


def register(subparsers) -> None:
    compare = subparsers.add_parser("compare", help="two models side by side on the same test set, with deltas "
                                                    "and their 95 %% intervals (writes a comparison page)")
    compare.add_argument("a", metavar="A", help="a model version (3 or v3), an alias (champion), an evaluation key "
                                                "or a checkpoint sha256")
    compare.add_argument("b", metavar="B", help="the same kinds; deltas are B - A")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare.set_defaults(func=cmd_compare)


class CompareError(VisionError, LookupError):
    """What to compare cannot be found or evaluated; the message names it."""


def cmd_compare(args: argparse.Namespace) -> int:
    from vision_assets.cli.environment import open_lake, prepare_environment
    from vision_assets.core.evaluation.compare import comparison_rows, write_compare_page
    from vision_assets.core.evaluation.report_page import write_report_page
    from vision_assets.core.evaluation.uncertainty import delta_intervals
    from vision_assets.links_server import lake_page_url

    settings = prepare_environment()
    lake = open_lake(settings)
    try:
        a_side, b_side = _model(settings, lake, args.a), _model(settings, lake, args.b)
        a, b = _on_the_same_test_set(settings, lake, a_side, b_side)
    except (VisionError, OSError) as error:
        print(f"vision-assets: error: {error}", file=sys.stderr)
        return 2
    for report in (a, b):
        if not lake.exists(f"evaluations/{report['evaluation_key']}/report.html"):
            write_report_page(lake, report)
    key = write_compare_page(lake, a, b, names=(a_side["name"], b_side["name"]))
    deltas = delta_intervals(lake, a, b)
    rows = comparison_rows(lake, a, b)
    if args.json:
        print(json.dumps({"a": a["evaluation_key"], "b": b["evaluation_key"], "page": key,
                          "headline": {m: _headline(a, b, deltas, m) for m in ("map50_95", "map50", "precision",
                                                                               "recall")},
                          "rows": rows}, indent=1, default=str))
        return 0
    print(f"{a_side['name']} vs {b_side['name']} on test set {b['test_set_hash']} ({b['test_images']} images); "
          f"deltas {b_side['name']} - {a_side['name']} with the 95 % interval over test videos")
    for metric in ("map50_95", "map50", "precision", "recall"):
        h = _headline(a, b, deltas, metric)
        span = f" [{h['delta_low']:+.4f}, {h['delta_high']:+.4f}]" if h["delta_low"] is not None else ""
        print(f"  {metric:<10} {h['a']:.4f} -> {h['b']:.4f}  delta {h['delta']:+.4f}{span}  {h['verdict']}")
    worse = [r for r in rows if r["regressed"] and r["beyond_noise"]]
    print(f"{len(worse)} number(s) worse beyond the noise" + (": " + "; ".join(
        f"{r['metric']} {r['slice_dimension']}={r['slice_value']} {r['delta']:+.4f}" for r in worse[:5]) if worse else ""))
    print(f"page: {lake.uri(key)}\nserved by `vision-assets ui`: {lake_page_url(key)}")
    return 0


def _headline(a: dict, b: dict, deltas: dict, metric: str) -> dict:
    from vision_assets.core.evaluation.uncertainty import beyond_noise

    before, after = float(a["overall"][metric]), float(b["overall"][metric])
    found = deltas.get(("all", "all", metric)) or {}
    noise = beyond_noise(found)
    return {"a": before, "b": after, "delta": after - before, "delta_low": found.get("delta_low"),
            "delta_high": found.get("delta_high"),
            "verdict": {True: "beyond noise", False: "within noise", None: "no interval"}[noise]}


def _model(settings, lake, reference: str) -> dict:
    """{"name", "sha" (checkpoint), "evaluation" (a named evaluation, if the reference was one), "version"}."""
    from vision_assets.core.lake import keys

    if lake.exists(keys.evaluation_record_key(reference)):
        report = lake.read_json(keys.evaluation_record_key(reference))
        return {"name": reference[:16], "sha": report["checkpoint_sha256"], "evaluation": report, "version": None}
    if re.fullmatch(r"[0-9a-f]{16,64}", reference):
        return {"name": reference[:12], "sha": reference, "evaluation": None, "version": None}
    from vision_assets.cli.environment import open_registry
    from vision_assets.core.registry import DEFAULT_MODEL_NAME

    registry = open_registry(settings)
    number = reference.removeprefix("v")
    version = registry.get_version(DEFAULT_MODEL_NAME, number) if number.isdigit() else \
        registry.by_alias(DEFAULT_MODEL_NAME, reference)
    if version is None:
        raise CompareError(f"{reference}: neither a stored evaluation, a checkpoint sha256, a version nor an alias "
                           f"of {DEFAULT_MODEL_NAME}")
    sha = version.tags.get("checkpoint_sha256")
    if not sha:
        raise CompareError(f"{reference}: {DEFAULT_MODEL_NAME} v{version.version} has no checkpoint_sha256 tag")
    name = f"v{version.version}" + (f" ({reference})" if not number.isdigit() else "")
    return {"name": name, "sha": sha, "evaluation": None, "version": str(version.version),
            "imgsz": version.tags.get("imgsz")}


def _on_the_same_test_set(settings, lake, a_side: dict, b_side: dict) -> tuple[dict, dict]:
    from vision_assets.core.evaluation.compare import common_pair, stored_evaluations

    a_list = [a_side["evaluation"]] if a_side["evaluation"] else stored_evaluations(lake, a_side["sha"])
    b_list = [b_side["evaluation"]] if b_side["evaluation"] else stored_evaluations(lake, b_side["sha"])
    pair = common_pair(a_list, b_list)
    if pair:
        return pair
    if b_list:  # evaluate A on B's test set, the way B was evaluated
        return _evaluate_like(settings, lake, a_side, b_list[-1]), b_list[-1]
    if a_list:
        return a_list[-1], _evaluate_like(settings, lake, b_side, a_list[-1])
    raise CompareError(f"neither {a_side['name']} nor {b_side['name']} has a stored evaluation: materialize "
                       "eval_report for one of them first")


def _evaluate_like(settings, lake, side: dict, other: dict) -> dict:
    """The model's evaluation on `other`'s test set with `other`'s evaluation config (computed once, stored)."""
    from vision_assets.core.evaluation.checkpoint_report import evaluate
    from vision_assets.core.evaluation.compare import evaluation_config_from
    from vision_assets.core.lake import keys
    from vision_assets.core.records import DatasetVersion

    work = settings.work_dir / "compare"
    blob = keys.blob_key(keys.CHECKPOINT_BLOBS, side["sha"], ".pt")
    if lake.exists(blob):
        weights = Path(lake.local_copy(blob, work / "checkpoints"))
    elif side["version"]:
        from vision_assets.cli.environment import open_registry
        from vision_assets.core.registry import DEFAULT_MODEL_NAME

        folder = open_registry(settings).download(DEFAULT_MODEL_NAME, side["version"], work / f"v{side['version']}")
        weights = next(Path(folder).rglob("*.pt"), None)
        if weights is None:
            raise CompareError(f"{side['name']}: the registered version holds no .pt weights")
    else:
        raise CompareError(f"{side['name']}: its checkpoint is neither in the lake nor in the registry")
    dataset = DatasetVersion(version=other["dataset_version"],
                             class_names=list(other["inference_config"]["class_names"]))
    print(f"evaluating {side['name']} on test set {other['test_set_hash']} (as {other['evaluation_key']} was) ...",
          file=sys.stderr)
    report, _ = evaluate(lake, dataset, weights, checkpoint_sha256=side["sha"],
                         imgsz=int(side.get("imgsz") or other["inference_config"]["imgsz"]),
                         work_dir=work, device=settings.device, config=evaluation_config_from(other))
    return report.to_json()
