"""Stage 6: eval_report, the checkpoint's metrics on its dataset version's test split."""

import base64

import dagster as dg
import pandas as pd

from vision_assets.core.evaluation.checkpoint_report import TEST_METRICS, evaluate_checkpoint_record
from vision_assets.defs import keys
from vision_assets.defs.markdown import md_table
from vision_assets.defs.resources import LakeResource, MlflowResource, TrainerResource

TABLE_KEYS = ["map50_95", "map50", "precision", "recall", "n_images", "n_ground_truth"]


def slice_table(slices: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame([{"slice": name, **{k: m[k] for k in TABLE_KEYS}} for name, m in slices.items()])


def report_markdown(report: dict, montage_uri: str | None, montage: bytes | None) -> str:
    overall = report["overall"]
    lines = [
        f"### Test split of dataset `{report['dataset_version']}` ({report['test_images']} images)",
        "",
        md_table(slice_table({"all": overall})),
        "", "#### Per scene", "", md_table(slice_table(report["by_scene"])),
        "", "#### Per lighting", "", md_table(slice_table(report["by_lighting"])),
        "", "#### AP50-95 per class", "",
        md_table(pd.DataFrame([{"class": k, "ap50_95": v} for k, v in report["per_class_ap50_95"].items()])),
    ]
    if montage:
        lines += ["", "#### Error samples (green: label, red: missed, orange: false alarm)", "",
                  f"![errors](data:image/jpeg;base64,{base64.b64encode(montage).decode()})", "", f"Full size: lake key `{montage_uri}`"]
    return "\n".join(lines)


@dg.asset(
    group_name=keys.MODEL_GROUP,
    kinds={"pytorch"},
    owners=["team:vision-ml"],
    code_version="1",
    description=(
        "The trained checkpoint's detection metrics on its dataset version's test split (pycocotools mAP50-95, "
        "mAP50, precision and recall at IoU 0.5), overall, per scene and per lighting, with error samples to look at."
    ),
)
def eval_report(context: dg.AssetExecutionContext, trained_checkpoint: dict, dataset_split: dict,
                lake: LakeResource, mlflow: MlflowResource, trainer: TrainerResource) -> dg.Output:
    if trained_checkpoint["dataset_version"] != dataset_split["version"]:
        raise dg.Failure(f"checkpoint was trained on {trained_checkpoint['dataset_version']}, "
                         f"dataset_split is {dataset_split['version']}: rematerialize trained_checkpoint first")
    report, montage = evaluate_checkpoint_record(lake.lake(), trained_checkpoint, dataset_split, work_dir=lake.work,
                                                 device=trainer.device)
    overall = report["overall"]
    mlflow.registry().log_metrics(trained_checkpoint["mlflow_run_id"], {f"test_{k}": overall[k] for k in TEST_METRICS})
    return dg.Output(
        report,
        metadata={
            "map50_95": overall["map50_95"],
            "map50": overall["map50"],
            "precision": overall["precision"],
            "recall": overall["recall"],
            "test_images": report["test_images"],
            "test_split_hash": report["test_split_hash"],
            "report": dg.MetadataValue.md(report_markdown(report, report['error_samples'], montage)),
        },
    )
