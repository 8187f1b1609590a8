"""What a trained checkpoint looks like from outside: its loss and val-mAP curves per epoch, the class histogram of
the split it was trained on, and a few val images with its predictions drawn (ground truth green, predictions red).

Small PNG/JPEG thumbnails go inline in the asset's metadata; the full-size pictures and interactive curves are a
self-contained page at `reports/<checkpoint>/training.html` (plotly.js inlined, images as data URIs)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from vision_assets.core.lake import Lake, keys

LOSSES = ("train/box_loss", "train/cls_loss", "train/dfl_loss", "val/box_loss", "val/cls_loss", "val/dfl_loss")
VAL_METRICS = ("metrics/mAP50-95(B)", "metrics/mAP50(B)")
VAL_IMAGES = 4


def epoch_table(epoch_metrics: list[dict]) -> pd.DataFrame:
    """One row per epoch (1-based) with the losses and val metrics Ultralytics reported."""
    rows = [{"epoch": n, **{k: row.get(k) for k in (*LOSSES, *VAL_METRICS)}} for n, row in
            enumerate(epoch_metrics or [], start=1)]
    return pd.DataFrame(rows, columns=["epoch", *LOSSES, *VAL_METRICS])


def curves_png(epochs: pd.DataFrame) -> bytes:
    """Losses (left) and val mAP (right) against epoch, as a PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3), dpi=90)
    losses, maps = figure.subplots(1, 2)
    for name in LOSSES:
        if epochs[name].notna().any():
            losses.plot(epochs["epoch"], epochs[name], marker="o", ms=3, label=name,
                        linestyle="-" if name.startswith("train") else "--")
    losses.set(title="loss per epoch", xlabel="epoch")
    losses.legend(fontsize=6)
    for name in VAL_METRICS:
        if epochs[name].notna().any():
            maps.plot(epochs["epoch"], epochs[name], marker="o", ms=3, label=name.removeprefix("metrics/"))
    maps.set(title="val mAP per epoch", xlabel="epoch", ylim=(0, 1))
    maps.legend(fontsize=6)
    figure.tight_layout()
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def class_histogram(lake: Lake, dataset_version: str, split: str = "train") -> pd.DataFrame:
    """class_name, boxes, images: the labelled boxes of one split of a dataset version, most frequent first."""
    manifest = lake.read_table(keys.DATASET_MANIFEST, {"version": dataset_version})
    labels = lake.read_table(keys.DATASET_LABELS, {"version": dataset_version})
    if manifest is None or labels is None or labels.empty:
        return pd.DataFrame(columns=["class_name", "boxes", "images"])
    chosen = manifest[manifest["split"] == split][["video_sha256", "frame_index", "sample_id"]]
    boxes = labels.merge(chosen, on=["video_sha256", "frame_index"])
    out = boxes.groupby("class_name").agg(boxes=("class_name", "size"), images=("sample_id", "nunique"))
    return out.sort_values("boxes", ascending=False).reset_index()


def val_predictions(lake: Lake, dataset: dict, weights: Path, *, imgsz: int, work_dir: Path, device: str = "auto",
                    conf: float = 0.25, count: int = VAL_IMAGES) -> list[bytes]:
    """JPEGs of the first `count` val images (evenly spread over the split) with ground truth (green) and the
    checkpoint's predictions at `conf` (red, with class and score) drawn."""
    from vision_assets.core.training.yolo import predict

    manifest = lake.read_table(keys.DATASET_MANIFEST, {"version": dataset["version"]})
    labels = lake.read_table(keys.DATASET_LABELS, {"version": dataset["version"]})
    val = manifest[manifest["split"] == "val"] if manifest is not None else pd.DataFrame()
    if val.empty:
        return []
    picked = val.iloc[np.unique(np.linspace(0, len(val) - 1, min(count, len(val))).round().astype(int))]
    paths = [str(lake.local_copy(key, work_dir / "frames")) for key in picked["image_path"]]
    detections = predict(weights, paths, work_dir=work_dir, imgsz=imgsz, device=device, conf=conf)
    out = []
    for path, row in zip(paths, picked.itertuples()):
        image = cv2.imread(path)
        if image is None:
            continue
        truth = labels[(labels["video_sha256"] == row.video_sha256) & (labels["frame_index"] == row.frame_index)] \
            if labels is not None else pd.DataFrame()
        for box in truth.itertuples():
            cv2.rectangle(image, (int(box.x1), int(box.y1)), (int(box.x2), int(box.y2)), (0, 200, 0), 1)
        for box in detections[detections["image_path"] == path].itertuples():
            cv2.rectangle(image, (int(box.x1), int(box.y1)), (int(box.x2), int(box.y2)), (0, 0, 255), 1)
            cv2.putText(image, f"{box.class_name} {box.score:.2f}", (int(box.x1), max(8, int(box.y1) - 2)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 0, 255), 1, cv2.LINE_AA)
        ok, jpeg = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
        if ok:
            out.append(jpeg.tobytes())
    return out


def training_page(record: dict, epochs: pd.DataFrame, histogram: pd.DataFrame, samples: list[bytes]) -> str:
    """The self-contained page: interactive curves, the histogram, the val predictions at full size."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from vision_assets.core.evaluation.report_page import figure_html, page, table

    figure = make_subplots(rows=1, cols=2, subplot_titles=("loss per epoch", "val mAP per epoch"))
    for name in LOSSES:
        if epochs[name].notna().any():
            figure.add_scatter(x=epochs["epoch"], y=epochs[name], name=name, row=1, col=1,
                               line={"dash": "solid" if name.startswith("train") else "dash"})
    for name in VAL_METRICS:
        if epochs[name].notna().any():
            figure.add_scatter(x=epochs["epoch"], y=epochs[name], name=name.removeprefix("metrics/"), row=1, col=2)
    figure.update_layout(height=380, margin={"t": 40})
    bars = go.Figure(go.Bar(x=histogram["class_name"], y=histogram["boxes"]))
    bars.update_layout(title="labelled boxes per class (train split)", height=320, margin={"t": 40})
    images = "".join(f"<figure class='error'><img src='data:image/jpeg;base64,{base64.b64encode(j).decode()}' "
                     f"alt='val prediction {n}'></figure>" for n, j in enumerate(samples))
    facts = [["checkpoint", f"<code>{html.escape(record['checkpoint_sha256'][:16])}</code>"],
             ["dataset version", f"<code>{html.escape(record['dataset_version'])}</code>"],
             ["epochs", str(record.get("epochs"))], ["best epoch", str(record.get("best_epoch"))],
             ["device", html.escape(str(record.get("device")))]]
    body = ("<h1>Training</h1>" + table(["", ""], facts, cls="facts") + "<h2>Curves</h2>"
            + figure_html(figure, "training-curves") + "<h2>Training split</h2>" + figure_html(bars, "class-histogram")
            + table(["class", "boxes", "images"], histogram[["class_name", "boxes", "images"]].values.tolist())
            + "<h2>Val images with predictions</h2><p class='note'>Ground truth green, predictions red.</p>"
            + f"<div id='gallery'>{images}</div>")
    return page(f"Training {record['checkpoint_sha256'][:16]}", body)


def training_page_key(checkpoint_sha256: str) -> str:
    return f"{keys.report_folder(checkpoint_sha256)}/training.html"
