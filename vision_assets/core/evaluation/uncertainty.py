"""Intervals for a stored evaluation, read from what the evaluation already wrote (eval.json, detections.parquet,
the dataset version's test split and labels), kept beside it as
`evaluations/<key>/bootstrap-<method>-n<N>-s<seed>.parquet`.

The samples are computed once per evaluation key (deterministic: fixed resamples and seed) and reused by the
report page, `vision-assets compare` and the promotion gate, which pairs two evaluations' samples resample by
resample (`delta_intervals`)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from vision_assets.core.evaluation.bootstrap import (
    LEVEL,
    N_RESAMPLES,
    SEED,
    bootstrap_samples,
    intervals,
    paired_delta,
    percentile_interval,
    slice_videos,
    video_resamples,
)
from vision_assets.core.lake import Lake, keys

# Slices that are not image slices: bootstrapped by other means (class, size) or not at all (occlusion).
_NOT_IMAGE_DIMENSIONS = frozenset({"all", "class", "size", "occlusion"})


# Part of the samples' name: another method, resample count or seed is another file, never a stale one.
METHOD = "videos-v1"


def samples_key(evaluation_key: str) -> str:
    return f"{keys.evaluation_folder(evaluation_key)}/bootstrap-{METHOD}-n{N_RESAMPLES}-s{SEED}.parquet"


def evaluation_samples(lake: Lake, report: dict) -> pd.DataFrame:
    """The evaluation's bootstrap samples (resample, dimension, value, metric, sample, n_videos), computed on first
    use. Tracking metrics appear as metric tracking_mota / tracking_idf1 for dimension all and scene."""
    key = samples_key(report["evaluation_key"])
    if lake.exists(key):
        return pd.read_parquet(io.BytesIO(lake.fs.cat_file(lake.path(key))))
    samples = _compute(lake, report)
    buffer = io.BytesIO()
    samples.to_parquet(buffer, index=False)
    lake.write_bytes(key, buffer.getvalue())
    return samples


def evaluation_intervals(lake: Lake, report: dict) -> dict[tuple[str, str, str], dict]:
    """{(dimension, value, metric): {"low", "high", "n_videos"}} at LEVEL (bounds None for a one-video slice)."""
    samples = evaluation_samples(lake, report)
    videos = samples.groupby(["dimension", "value"])["n_videos"].first().to_dict()
    return {(r["dimension"], r["value"], r["metric"]): r for r in intervals(samples, videos)}


def delta_intervals(lake: Lake, before: dict, after: dict) -> dict[tuple[str, str, str], dict]:
    """{(dimension, value, metric): {"delta_low", "delta_high", "n_videos"}}: paired over the same resamples of the
    same test videos (bounds None when the slice has fewer than two videos or the test sets differ)."""
    if before.get("test_set_hash") != after.get("test_set_hash"):
        return {}
    theirs, ours = evaluation_samples(lake, before), evaluation_samples(lake, after)
    videos = ours.groupby(["dimension", "value"])["n_videos"].first().to_dict()
    out = {}
    for row in paired_delta(theirs, ours).to_dict("records"):
        n_videos = int(videos.get((row["dimension"], row["value"]), 0))
        if n_videos < 2:
            row["delta_low"] = row["delta_high"] = None
        out[row["dimension"], row["value"], row["metric"]] = {**row, "n_videos": n_videos}
    return out


def gate_deltas(lake: Lake, before: dict, after: dict) -> dict:
    """delta_intervals for the promotion gate, or {} when either side is not a full stored evaluation (e.g. a
    champion known only by its registry tags): the gate then keeps its tolerance rule alone."""
    full = all(r.get("evaluation_key") and r.get("detections") and r.get("dataset_version") for r in (before, after))
    if not full:
        return {}
    try:
        return delta_intervals(lake, before, after)
    except (OSError, ValueError, KeyError):
        return {}


def beyond_noise(delta: dict | None) -> bool | None:
    """True when the paired interval of a difference excludes 0, False when it holds 0, None when unknown."""
    if not delta or delta.get("delta_low") is None or delta.get("delta_high") is None:
        return None
    return bool(delta["delta_low"] > 0 or delta["delta_high"] < 0)


def _compute(lake: Lake, report: dict) -> pd.DataFrame:
    from vision_assets.core.evaluation.report_data import test_images

    images, gt = test_images(lake, report["dataset_version"])
    images = images.drop(columns=["frame_index", "image_key"], errors="ignore")
    detections = pd.read_parquet(io.BytesIO(lake.fs.cat_file(lake.path(report["detections"]))))
    classes = list(report["inference_config"]["class_names"])
    detections = detections[detections["class_name"].isin(classes)]
    dimensions = sorted({r["dimension"] for r in report.get("slices") or []} - _NOT_IMAGE_DIMENSIONS)
    dimensions = [d for d in dimensions if d in images.columns]
    samples = bootstrap_samples(gt, detections, images=images, class_names=classes,
                                confidence=float(report["inference_config"]["conf"]), dimensions=dimensions)
    videos = slice_videos(images, gt, dimensions)
    samples["n_videos"] = [videos.get(k, 0) for k in zip(samples["dimension"], samples["value"])]
    tracking = _tracking_samples(report, sorted(images["video_sha256"].astype(str).unique()))
    return pd.concat([samples, tracking], ignore_index=True) if len(tracking) else samples


def _tracking_samples(report: dict, videos: list[str]) -> pd.DataFrame:
    """MOTA and IDF1 per resample from each video's counts (both are ratios of sums over videos)."""
    by_video = (report.get("tracking") or {}).get("by_video") or {}
    if not by_video:
        return pd.DataFrame()
    counts = video_resamples(videos, N_RESAMPLES, SEED)
    frames = []
    groups = {("all", "all"): [v for v in videos if v in by_video]}
    for video in videos:
        if video in by_video:
            groups.setdefault(("scene", str(by_video[video].get("scene"))), []).append(video)
    for (dimension, value), members in groups.items():
        index = [videos.index(v) for v in members]
        weight = counts[:, index].astype(float)

        def total(name: str, weight=weight, members=members) -> np.ndarray:
            return weight @ np.array([float(by_video[v].get(name) or 0) for v in members])

        objects, predictions = total("num_objects"), total("num_predictions")
        errors = total("num_misses") + total("num_false_positives") + total("num_switches")
        idtp = weight @ np.array([float(by_video[v].get("idf1") or 0) * (float(by_video[v].get("num_objects") or 0)
                                                                      + float(by_video[v].get("num_predictions") or 0))
                                  / 2 for v in members])
        with np.errstate(invalid="ignore", divide="ignore"):
            mota = np.where(objects > 0, 1 - errors / objects, np.nan)
            idf1 = np.where(objects + predictions > 0, 2 * idtp / (objects + predictions), np.nan)
        for metric, values in (("tracking_mota", mota), ("tracking_idf1", idf1)):
            frames.append(pd.DataFrame({"resample": np.arange(N_RESAMPLES), "dimension": dimension, "value": value,
                                        "metric": metric, "sample": values, "n_videos": len(members)}))
    return pd.concat(frames, ignore_index=True)


def interval_text(interval: dict | None, digits: int = 3) -> str:
    """"[0.412, 0.538]", or a reason there is none."""
    if not interval:
        return "no interval"
    if interval.get("low") is None:
        return f"no interval ({interval.get('n_videos', 0)} video)" if interval.get("n_videos", 0) < 2 else "n/a"
    return f"[{interval['low']:.{digits}f}, {interval['high']:.{digits}f}]"


__all__ = ["LEVEL", "beyond_noise", "delta_intervals", "evaluation_intervals", "evaluation_samples",
           "interval_text", "percentile_interval", "samples_key"]
