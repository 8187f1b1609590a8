"""95 % intervals for an evaluation's numbers by bootstrap over test videos.

Frames of one video are not independent (same place, same light, same objects a few frames apart), so the unit
that is resampled is the video: each resample draws the test videos with replacement and weights every image by
how often its video was drawn. Matching is done once, by pycocotools' own COCOeval.evaluate() (per image, class
and area range, maxDets 100); each resample only re-runs the accumulation (the PR curve, COCO's 101-point
interpolated precision) with those weights, as a small matrix product per true positive (see weighted_ap). With
every weight 1 the accumulation is COCOeval.accumulate() exactly, so the intervals sit around the very numbers the
report shows.

Resamples are drawn from `N_RESAMPLES` and `SEED` over the test videos in sorted order: two evaluations on the same
test set get the same resamples, so their difference is bootstrapped pairwise (`paired_delta`).

Slices: image slices (scene, lighting, weather, any sidecar field) weight out the other images; class slices are
one category; size slices COCO's area ranges. A slice whose images come from one video has no interval (there is
no between-video spread to measure): its bounds are None and `n_videos` says why.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

N_RESAMPLES = 1000
SEED = 20261207
LEVEL = 0.95
METRICS = ("map50_95", "map50", "map75", "precision", "recall")
_REC_THRS = np.linspace(0.0, 1.00, 101)


def video_resamples(videos: Sequence[str], n: int = N_RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(n, len(videos)) counts: how often each video (in sorted order) is drawn in each resample."""
    order = sorted(videos)
    if not order:
        return np.zeros((n, 0), dtype=np.int32)
    draws = np.random.default_rng(seed).integers(0, len(order), size=(n, len(order)))
    counts = np.zeros((n, len(order)), dtype=np.int32)
    np.add.at(counts, (np.repeat(np.arange(n), len(order)), draws.ravel()), 1)
    return counts


def percentile_interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float | None, float | None]:
    """The central `level` percentile interval of the finite samples (None, None when there are none)."""
    values = np.asarray(samples, dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return None, None
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def weighted_ap(scores: np.ndarray, matched: np.ndarray, ignored: np.ndarray, det_video: np.ndarray,
                counts: np.ndarray, n_gt: np.ndarray) -> np.ndarray:
    """COCOeval.accumulate()'s AP, per resample and IoU threshold, for one category and area range.

    scores (D,) in COCO's concatenation order; matched, ignored (T, D) from evalImgs; det_video (D,) each
    detection's video (column of counts); counts (B, V) how often each video is drawn; n_gt (B,) the weighted count
    of non-ignored ground truth. Returns (B, T): the mean interpolated precision over the 101 recall thresholds,
    NaN where n_gt is 0 (the category is not measured, COCO's -1).

    Only true positives matter: recall grows only there, so each recall threshold's lookup lands on one, and a
    false positive's precision is below that of the true positive before it, so it never raises the envelope. Per
    true positive the weighted TP and FP counts so far are counts @ (per-video counts so far): a small matrix
    product instead of a pass over every detection in every resample."""
    batch, thresholds = counts.shape[0], matched.shape[0]
    out = np.full((batch, thresholds), np.nan)
    present = n_gt > 0
    if not present.any():
        return out
    out[present] = 0.0
    if scores.size == 0:
        return out
    order = np.argsort(-scores, kind="mergesort")
    videos = counts.shape[1]
    one_hot = np.zeros((scores.size, videos))
    one_hot[np.arange(scores.size), det_video[order]] = 1.0
    needed = _needed_true_positives(np.where(present, n_gt, 1.0))  # (B, R)
    weights = counts.astype(float)
    for t in range(thresholds):
        tps = (matched[t] & ~ignored[t])[order]
        fps = (~matched[t] & ~ignored[t])[order]
        if not tps.any():
            continue
        tp_so_far = np.cumsum(one_hot * tps[:, None], axis=0)[tps]  # (P, V) at each true positive
        fp_so_far = np.cumsum(one_hot * fps[:, None], axis=0)[tps]
        tp = weights @ tp_so_far.T  # (B, P), whole numbers
        fp = weights @ fp_so_far.T
        precision = tp / (tp + fp + np.spacing(1))
        precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]  # the envelope
        out[:, t] = np.where(present, _interpolated(np.rint(tp).astype(np.int64), precision, needed), np.nan)
    return out


def _interpolated(tp: np.ndarray, precision: np.ndarray, needed: np.ndarray) -> np.ndarray:
    """Mean over recall thresholds of the envelope precision at the first position with tp >= needed (0 past the
    end), per row: one integer searchsorted over all rows, offset so rows never interleave."""
    rows, depth = tp.shape
    stride = int(max(tp.max(initial=0), needed.max(initial=0))) + 2
    offset = stride * np.arange(rows, dtype=np.int64)
    index = np.searchsorted((tp + offset[:, None]).ravel(), (needed + offset[:, None]).ravel(), side="left")
    index = index.reshape(rows, -1) - (depth * np.arange(rows))[:, None]
    valid = index < depth
    picked = np.take_along_axis(precision, np.minimum(index, depth - 1), axis=1)
    return np.where(valid, picked, 0.0).mean(axis=1)


def _needed_true_positives(n_gt: np.ndarray) -> np.ndarray:
    """(B, R): the least whole tp with tp / n_gt >= r in floating point, as COCO compares, per recall threshold."""
    n = n_gt[:, None]
    need = np.ceil(_REC_THRS[None, :] * n)
    for _ in range(2):  # the product may round either way: settle on the exact float comparison
        need = np.where((need - 1 >= 0) & ((need - 1) / n >= _REC_THRS[None, :]), need - 1, need)
        need = np.where(need / n < _REC_THRS[None, :], need + 1, need)
    return need.astype(np.int64)


def _cells(evaluator, conf: float) -> dict[tuple[int, int], dict]:
    """COCOeval's per-image matching regrouped as arrays per (category index, area range index)."""
    params = evaluator.params
    thresholds, n_images, n_areas = len(params.iouThrs), len(params.imgIds), len(params.areaRng)
    cells = {}
    for k in range(len(params.catIds)):
        for a in range(n_areas):
            entries = [(i, evaluator.evalImgs[k * n_areas * n_images + a * n_images + i]) for i in range(n_images)]
            entries = [(i, e) for i, e in entries if e is not None]
            if not entries:
                empty = np.zeros((thresholds, 0), dtype=bool)
                cells[k, a] = {"scores": np.zeros(0), "matched": empty, "ignored": empty,
                               "det_image": np.zeros(0, int), "gt_image": np.zeros(0, int)}
                continue
            cells[k, a] = {
                "scores": np.concatenate([np.asarray(e["dtScores"], dtype=float) for _, e in entries]),
                "matched": np.concatenate([np.asarray(e["dtMatches"]).reshape(thresholds, -1) > 0
                                           for _, e in entries], axis=1),
                "ignored": np.concatenate([np.asarray(e["dtIgnore"]).reshape(thresholds, -1).astype(bool)
                                           for _, e in entries], axis=1),
                "det_image": np.concatenate([np.full(len(e["dtScores"]), i) for i, e in entries]).astype(int),
                "gt_image": np.concatenate([np.full(int((~np.asarray(e["gtIgnore"], dtype=bool)).sum()), i)
                                            for i, e in entries]).astype(int),
            }
    return cells


def _cell_samples(cell: dict, inside: np.ndarray, image_video: np.ndarray, counts: np.ndarray, t50: int,
                  conf: float) -> dict[str, np.ndarray]:
    """Per resample, for the images `inside` (a mask): AP (B, T), and TP / FP / GT counts at IoU 0.5, score >= conf."""
    videos = counts.shape[1]
    keep = inside[cell["det_image"]]
    scores, matched, ignored = cell["scores"][keep], cell["matched"][:, keep], cell["ignored"][:, keep]
    det_video = image_video[cell["det_image"][keep]]
    gt_video = image_video[cell["gt_image"][inside[cell["gt_image"]]]]
    n_gt = counts @ np.bincount(gt_video, minlength=videos).astype(float)
    counted = ~ignored[t50] & (scores >= conf)
    hit = matched[t50] & counted
    return {"ap": weighted_ap(scores, matched, ignored, det_video, counts, n_gt),
            "tp": counts @ np.bincount(det_video[hit], minlength=videos).astype(float),
            "fp": counts @ np.bincount(det_video[counted & ~hit], minlength=videos).astype(float), "gt": n_gt}


def _summary(cells: list[dict], t50: int, t75: int) -> dict[str, np.ndarray]:
    """METRICS per resample from the cells of the categories in a slice, averaged as COCOeval.summarize()."""
    ap = np.stack([c["ap"] for c in cells], axis=2)  # (B, T, K)
    with np.errstate(invalid="ignore"):
        measured = np.isfinite(ap)
        total = np.where(measured, ap, 0.0)

        def mean(block, count):
            return np.where(count > 0, block / np.maximum(count, 1), np.nan)

        out = {"map50_95": mean(total.sum(axis=(1, 2)), measured.sum(axis=(1, 2))),
               "map50": mean(total[:, t50].sum(axis=1), measured[:, t50].sum(axis=1)),
               "map75": mean(total[:, t75].sum(axis=1), measured[:, t75].sum(axis=1))}
        tp = sum(c["tp"] for c in cells)
        fp = sum(c["fp"] for c in cells)
        gt = sum(c["gt"] for c in cells)
        out["precision"] = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-12), 0.0)
        out["recall"] = np.where(gt > 0, tp / np.maximum(gt, 1e-12), np.nan)
    return out


def bootstrap_samples(ground_truth: pd.DataFrame, detections: pd.DataFrame, *, images: pd.DataFrame,
                      class_names: Sequence[str], confidence: float, dimensions: Sequence[str] = (),
                      n: int = N_RESAMPLES, seed: int = SEED) -> pd.DataFrame:
    """Long table (resample, dimension, value, metric, sample): METRICS for the overall row ("all", "all"), each
    value of each image dimension, each class and each COCO size, in each resample over `images["video_sha256"]`.

    Precision and recall are at IoU 0.5 and score >= confidence, as the report's."""
    from vision_assets.core.evaluation.metrics import _run_cocoeval

    images = images.reset_index(drop=True)  # COCO's image ids are 1..I in this order
    videos = sorted(images["video_sha256"].astype(str).unique())
    counts = video_resamples(videos, n, seed)  # (B, V)
    image_video = images["video_sha256"].astype(str).map({v: i for i, v in enumerate(videos)}).to_numpy()
    evaluator = _run_cocoeval(ground_truth, detections, images, list(class_names))
    params = evaluator.params
    cells = _cells(evaluator, confidence)
    t50 = int(np.argmin(np.abs(params.iouThrs - 0.5)))
    t75 = int(np.argmin(np.abs(params.iouThrs - 0.75)))
    areas, categories = list(params.areaRngLbl), range(len(params.catIds))
    everything, every_image = areas.index("all"), np.ones(len(images), dtype=bool)
    frames = []

    def add(dimension: str, value: str, metrics: dict[str, np.ndarray]) -> None:
        for metric, samples in metrics.items():
            frames.append(pd.DataFrame({"resample": np.arange(n), "dimension": dimension, "value": value,
                                        "metric": metric, "sample": samples}))

    def run(inside: np.ndarray, area: int, which) -> list[dict]:
        return [_cell_samples(cells[k, area], inside, image_video, counts, t50, confidence) for k in which]

    per_category = run(every_image, everything, categories)
    add("all", "all", _summary(per_category, t50, t75))
    for k, name in enumerate(class_names):
        add("class", str(name), _summary([per_category[k]], t50, t75))
    for label in ("small", "medium", "large"):
        if label in areas:
            add("size", label, _summary(run(every_image, areas.index(label), categories), t50, t75))
    for dimension in dimensions:
        values = images[dimension].astype(object).where(images[dimension].notna(), "").astype(str).str.strip()
        values = values.where(values != "", "unknown")
        for value in sorted(values.unique()):
            add(dimension, value, _summary(run((values == value).to_numpy(), everything, categories), t50, t75))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["resample", "dimension", "value", "metric", "sample"])


def slice_videos(images: pd.DataFrame, ground_truth: pd.DataFrame, dimensions: Sequence[str]) -> dict:
    """{(dimension, value): number of test videos the slice's images come from} for the slices bootstrapped."""
    out = {("all", "all"): images["video_sha256"].nunique()}
    video_of = dict(zip(images["image_id"].astype(str), images["video_sha256"].astype(str)))
    for name, boxes in ground_truth.groupby("class_name"):
        out[("class", str(name))] = len({video_of.get(str(i)) for i in boxes["image_id"]})
    for label in ("small", "medium", "large"):
        out[("size", label)] = out[("all", "all")]
    for dimension in dimensions:
        values = images[dimension].astype(object).where(images[dimension].notna(), "").astype(str).str.strip()
        values = values.where(values != "", "unknown")
        for value, group in images.groupby(values):
            out[(dimension, str(value))] = group["video_sha256"].nunique()
    return out


def intervals(samples: pd.DataFrame, videos_per_slice: dict, level: float = LEVEL) -> list[dict]:
    """One row per (dimension, value, metric): low, high (None for a slice of fewer than two videos), n_videos."""
    rows = []
    for (dimension, value, metric), group in samples.groupby(["dimension", "value", "metric"], sort=False):
        n_videos = int(videos_per_slice.get((dimension, value), 0))
        low, high = percentile_interval(group["sample"].to_numpy(), level) if n_videos >= 2 else (None, None)
        rows.append({"dimension": dimension, "value": value, "metric": metric, "low": low, "high": high,
                     "n_videos": n_videos})
    return rows


def paired_delta(before: pd.DataFrame, after: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Per (dimension, value, metric) in both: the interval of (after - before) over the shared resamples.

    Both sample tables must come from the same test set, N_RESAMPLES and SEED (the same resample draws the same
    videos). Columns dimension, value, metric, delta_low, delta_high."""
    keys = ["dimension", "value", "metric", "resample"]
    joined = before[keys + ["sample"]].merge(after[keys + ["sample"]], on=keys, suffixes=("_before", "_after"))
    joined["delta"] = joined["sample_after"] - joined["sample_before"]
    rows = []
    for (dimension, value, metric), group in joined.groupby(["dimension", "value", "metric"], sort=False):
        low, high = percentile_interval(group["delta"].to_numpy(), level)
        rows.append({"dimension": dimension, "value": value, "metric": metric, "delta_low": low, "delta_high": high})
    return pd.DataFrame(rows, columns=["dimension", "value", "metric", "delta_low", "delta_high"])
