"""Stage 6: eval_report, the checkpoint's evaluation on its dataset version's test split, beside the champion's."""

import base64
import dataclasses
from typing import TYPE_CHECKING

import dagster as dg

from vision_assets.core.records import Checkpoint, DatasetVersion, Evaluation
from vision_assets.defs import keys
from vision_assets.defs.markdown import md_table, mlflow_run_link, readable, report_page_link
from vision_assets.defs.resources import LakeResource, MlflowResource, TrainerResource

# The evaluation core (pandas, OpenCV, Ultralytics) is imported inside the functions that use it: loading the code
# location should cost little more than importing dagster.
if TYPE_CHECKING:
    from vision_assets.core.evaluation.checkpoint_report import EvaluationConfig

OVERALL_KEYS = ["map50_95", "map50", "map75", "map_small", "map_medium", "map_large", "precision", "recall",
                "n_images", "n_ground_truth"]
SLICE_KEYS = ["dimension", "value", "n_images", "n_boxes", "map50_95", "map50", "map75", "precision", "recall",
              "too_few", "confounded_with"]
TRACK_KEYS = ["mota", "motp", "idf1", "idp", "idr", "hota", "deta", "assa", "num_switches", "num_fragmentations",
              "n_boxes"]


class EvalReportConfig(dg.Config):
    """How the checkpoint is evaluated (part of the evaluation's key: a change evaluates anew)."""

    tracker: str = "bytetrack"  # or "botsort": Ultralytics' built-in trackers
    nms_iou: float = 0.7
    max_det: int = 100
    confidence: float | None = None  # None: the F1-optimal confidence becomes the operating point
    min_boxes: int = 20  # slices with fewer labelled boxes are marked too_few
    tracking: bool = True
    replays: bool = True

    def evaluation(self) -> "EvaluationConfig":
        from vision_assets.core.evaluation.checkpoint_report import EvaluationConfig
        from vision_assets.core.evaluation.inference import InferenceConfig

        inference = InferenceConfig(tracker=self.tracker, iou=self.nms_iou, max_det=self.max_det,
                                    conf=0.25 if self.confidence is None else self.confidence)
        return EvaluationConfig(inference=inference, choose_confidence=self.confidence is None,
                                min_boxes=self.min_boxes, tracking=self.tracking, replays=self.replays)


def _table(rows: list[dict], columns: list[str]) -> str:
    import pandas as pd

    frame = pd.DataFrame([{c: _shown(r.get(c)) for c in columns} for r in rows], columns=columns)
    return md_table(frame, max_rows=40)


def _shown(value):
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else value


def _inline_png(lake, key: str, alt: str) -> str:
    from vision_assets.core.evaluation.curves import thumbnail

    png = lake.fs.cat_file(lake.path(key))
    small, mime = thumbnail(png)
    return f"![{alt}](data:{mime};base64,{base64.b64encode(small).decode()})"


def report_markdown(report: Evaluation, lake) -> str:
    import pandas as pd

    from vision_assets.links_server import lake_page_url

    inference = report.inference_config
    conf = report.confidence
    page = report.extra.get("report_page")
    lines = [
        f"### Test split of dataset `{report.dataset_version}` ({report.test_images} images)",
        "",
        *([f"**Interactive report** (curves, error gallery, replays, intervals): {lake_page_url(page)}",
           ""] if page else []),
        f"Operating point: confidence **{inference['conf']:.2f}** ({conf['how'].replace('_', '-')}, best mean F1 "
        f"{conf['best_f1']:.3f}), NMS IoU {inference['iou']}, max_det {inference['max_det']}, imgsz "
        f"{inference['imgsz']}, tracker {inference['tracker']}. Precision and recall are at IoU 0.5 and that "
        f"confidence; mAP integrates over all confidences. Evaluation `{report.evaluation_key}`.",
        "", md_table(pd.DataFrame([{k: _shown(report.overall.get(k)) for k in OVERALL_KEYS}])),
    ]
    lines += _comparison_section(report)
    lines += ["", "#### Per class (at the operating confidence)", "",
              _table(report.per_class, ["class_name", "n_boxes", "ap50_95", "ap50", "ap75", "precision", "recall",
                                           "f1", "tp", "fp", "fn"])]
    lines += ["", "#### Curves", "", " ".join(_inline_png(lake, report.plots[name], name)
                                               for name in ("pr_curves", "f1_confidence", "confusion_matrix")),
              "", "Full size: " + ", ".join(f"`{k}`" for k in report.plots.values())]
    lines += ["", f"#### Slices (too_few: under {report.evaluation_config['min_boxes']} boxes; confounded_with: "
                  "other slices with exactly the same images)", "", _table(report.slices, SLICE_KEYS)]
    tracking = report.tracking or {}
    if tracking.get("overall"):
        rows = [{"group": "all", **tracking["overall"]}]
        for name in ("by_scene", "by_lighting"):
            rows += [{"group": f"{name[3:]}={k}", **v} for k, v in tracking[name].items()]
        lines += ["", f"#### Tracking ({tracking['tracker']}; MOTP as motmetrics reports it: mean 1 - IoU)", "",
                  _table(rows, ["group", *TRACK_KEYS])]
    if report.replays:
        lines += ["", "Replays (labelled boxes green, predicted tracks coloured by id): "
                  + ", ".join(f"`{key}`" for key in report.replays.values())]
    lines += _errors_section(report, lake)
    return "\n".join(lines)


def _comparison_section(report: Evaluation) -> list[str]:
    champion = report.champion or {}
    if not report.comparison:
        return ["", f"#### Against the champion: {champion.get('note', 'nothing to compare')}"]
    return ["", f"#### Against the champion v{champion['version']} (same test split; {champion['source']}): "
                f"{report.regressed} of {len(report.comparison)} numbers worse, those first", "",
            _table(report.comparison[:25], ["metric", "slice_dimension", "slice_value", "champion", "candidate",
                                               "delta", "n_boxes", "too_few", "regressed"])]


def _errors_section(report: Evaluation, lake) -> list[str]:
    from vision_assets.core.evaluation.curves import thumbnail

    errors = report.errors
    counts = ", ".join(f"{k} {v}" for k, v in errors["counts"].items())
    lines = ["", f"#### Errors ({counts}); every one in `{errors['table']}` (`vision-assets errors`)", ""]
    for row in errors["worst"]:
        if not row.get("crop_key"):
            continue
        jpeg = lake.fs.cat_file(lake.path(row["crop_key"]))
        small, mime = thumbnail(jpeg, max_width=160, max_bytes=12_000)
        lines.append(f"![{row['kind']}](data:{mime};base64,{base64.b64encode(small).decode()}) {row['caption']}  ")
    return lines


@dg.asset(
    group_name=keys.MODEL_GROUP,
    kinds={"pytorch"},
    owners=["team:vision-ml"],
    code_version="2",
    description=(
        "The trained checkpoint's evaluation on its dataset version's test split: pycocotools mAP50-95 / 50 / 75 "
        "and size APs, precision and recall at the F1-optimal confidence (the inference config), slices (scene, "
        "day, lighting, weather, sidecar fields, size, occlusion, class) with too-few and confounded marks, PR "
        "and F1 curves, confusion matrix, tracking (MOTA, IDF1, HOTA) with Ultralytics' tracker per test video, "
        "every error with a crop, a replay per video, and the comparison with the champion on the same split. "
        "Keyed by (checkpoint, test set, evaluation config): never computed twice."
    ),
)
def eval_report(context: dg.AssetExecutionContext, config: EvalReportConfig, trained_checkpoint: Checkpoint,
                dataset_split: DatasetVersion, lake: LakeResource, mlflow: MlflowResource,
                trainer: TrainerResource) -> dg.Output:
    from vision_assets.core.evaluation.champion import compare_with_champion
    from vision_assets.core.evaluation.checkpoint_report import evaluate

    checkpoint, dataset = trained_checkpoint, dataset_split
    if checkpoint.dataset_version != dataset.version:
        raise dg.Failure(f"checkpoint was trained on {checkpoint.dataset_version}, "
                         f"dataset_split is {dataset.version}: rematerialize trained_checkpoint first")
    store, registry = lake.lake(), mlflow.registry()
    settings = config.evaluation()
    weights = store.local_copy(checkpoint.checkpoint_path, lake.work / "checkpoints")
    report, computed = evaluate(store, dataset, weights, checkpoint_sha256=checkpoint.checkpoint_sha256,
                                imgsz=checkpoint.imgsz, work_dir=lake.work, device=trainer.device, config=settings,
                                registry=registry, mlflow_run_id=checkpoint.mlflow_run_id)
    context.log.info(("evaluated " if computed else "found the stored evaluation ") + report.evaluation_key)
    report = compare_with_champion(store, registry, mlflow.model_name, dataset, report, work_dir=lake.work,
                                   device=trainer.device, config=settings)
    page = _report_page(context, store, report, checkpoint)
    if page:
        report = dataclasses.replace(report, extra={**report.extra, "report_page": page})
    overall, tracking = report.overall, report.tracking_overall
    return dg.Output(
        report,
        metadata={
            # Rounded for reading; the exact values are in the report (the output) and in MLflow.
            **{k: readable(overall[k]) for k in ("map50_95", "map50", "map75", "precision", "recall")},
            "confidence": report.inference_config["conf"],
            **{f"tracking_{k}": readable(tracking[k]) for k in ("mota", "idf1", "hota") if k in tracking},
            **mlflow_run_link(mlflow.tracking, checkpoint.mlflow_run_id),
            "test_images": report.test_images,
            "test_split_hash": report.test_split_hash,
            "evaluation_key": report.evaluation_key,
            "computed": computed,
            "regressed_vs_champion": report.regressed,
            "errors": dg.MetadataValue.json(report.errors["counts"]),
            "error_table": dg.MetadataValue.path(report.errors["table"]),
            **({"report_page": report_page_link(page), "report_page_key": dg.MetadataValue.path(page)} if page else {}),
            **_interval_metadata(store, report),
            "report": dg.MetadataValue.md(report_markdown(report, store)),
        },
    )


def _report_page(context, store, report: Evaluation, checkpoint: Checkpoint) -> str | None:
    """The evaluation's interactive page (written beside its record); a page that cannot be drawn is a warning,
    never a lost evaluation."""
    from vision_assets.core.evaluation.report_page import write_report_page

    try:
        return write_report_page(store, report.to_json(), model={"mlflow_run_id": checkpoint.mlflow_run_id})
    except (OSError, ValueError, KeyError) as error:
        context.log.warning(f"eval_report: the report page could not be written: {error}")
        return None


def _interval_metadata(store, report: Evaluation) -> dict:
    """Each headline number's 95 % interval by bootstrap over test videos, as text ("[0.41, 0.54]")."""
    from vision_assets.core.evaluation.uncertainty import evaluation_intervals, interval_text

    try:
        bounds = evaluation_intervals(store, report.to_json())
    except (OSError, ValueError, KeyError):
        return {}
    return {f"{k}_95ci": interval_text(bounds.get(("all", "all", k))) for k in ("map50_95", "map50", "recall")}
