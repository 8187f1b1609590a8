"""Stage 6: eval_report, the checkpoint's metrics on its dataset version's test split."""

import base64
from pathlib import Path

import dagster as dg
import pandas as pd

from vision_assets.core.evaluation import error_montage, evaluate_checkpoint
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
                  f"![errors](data:image/jpeg;base64,{base64.b64encode(montage).decode()})", "", f"Full size: `{montage_uri}`"]
    return "\n".join(lines)


@dg.asset(
    group_name="evaluation",
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
    store = lake.lake()
    weights = store.local_copy(trained_checkpoint["checkpoint_path"], lake.work / "checkpoints")
    full = evaluate_checkpoint(store, dataset_split, Path(weights), work_dir=lake.work,
                               imgsz=trained_checkpoint["config"]["imgsz"], device=trainer.device)
    montage = error_montage(full)
    montage_uri = None
    if montage:
        montage_uri = store.write_bytes(f"reports/{trained_checkpoint['checkpoint_sha256'][:16]}/errors.jpg", montage)
    report = {k: v for k, v in full.items() if k not in ("detections", "ground_truth", "test")}
    report.update(checkpoint_sha256=trained_checkpoint["checkpoint_sha256"], error_samples=montage_uri)
    store.write_json(f"reports/{trained_checkpoint['checkpoint_sha256'][:16]}/eval.json", report)
    registry = mlflow.registry()
    overall = report["overall"]
    registry.log_metrics(trained_checkpoint["mlflow_run_id"],
                         {f"test_{k}": overall[k] for k in ("map50_95", "map50", "map75", "precision", "recall")})
    return dg.Output(
        report,
        metadata={
            "map50_95": overall["map50_95"],
            "map50": overall["map50"],
            "precision": overall["precision"],
            "recall": overall["recall"],
            "test_images": report["test_images"],
            "test_split_hash": report["test_split_hash"],
            "report": dg.MetadataValue.md(report_markdown(report, montage_uri, montage)),
        },
    )
