"""95 % intervals for an evaluation's numbers by bootstrap over test videos.

Frames of one video are not independent (same place, same light, same objects a few frames apart), so the unit
that is resampled is the video: each resample draws the test videos with replacement and weights every image by
how often its video was drawn. Matching is done once, by pycocotools' own COCOeval.evaluate() (per image, class
and area range, maxDets 100); each resample only re-runs the accumulation (the PR curve, COCO's 101-point
interpolated precision) with those weights, vectorised over resamples. With every weight 1 the accumulation is
COCOeval.accumulate() exactly, so the intervals sit around the very numbers the report shows.

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
CHUNK = 100  # resamples accumulated at once: bounds memory to CHUNK x IoU thresholds x detections
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


def weighted_ap(scores: np.ndarray, matched: np.ndarray, ignored: np.ndarray, det_weight: np.ndarray,
                n_gt: np.ndarray) -> np.ndarray:
    """COCOeval.accumulate()'s AP, per resample and IoU threshold, for one category and area range.

    scores (D,) in COCO's concatenation order; matched, ignored (T, D) from evalImgs; det_weight (B, D) how often
    each detection counts in each resample; n_gt (B,) the weighted count of non-ignored ground truth. Returns
    (B, T): the mean interpolated precision over the 101 recall thresholds, NaN where n_gt is 0 (the category is
    not measured, COCO's -1)."""
    batch, thresholds = det_weight.shape[0], matched.shape[0]
    out = np.full((batch, thresholds), np.nan)
    present = n_gt > 0
    if not present.any():
        return out
    if scores.size == 0:
        out[present] = 0.0
        return out
    order = np.argsort(-scores, kind="mergesort")
    tps = (matched & ~ignored)[:, order].astype(float)  # (T, D)
    fps = (~matched & ~ignored)[:, order].astype(float)
    weight = det_weight[:, order].astype(float)[:, None, :]  # (B, 1, D)
    tp = np.cumsum(weight * tps[None], axis=2)  # (B, T, D), whole numbers: weights are draw counts
    fp = np.cumsum(weight * fps[None], axis=2)
    precision = tp / (tp + fp + np.spacing(1))
    # The precision envelope: the best precision at this recall or any higher one.
    precision = np.maximum.accumulate(precision[..., ::-1], axis=2)[..., ::-1]
    rows, depth = batch * thresholds, tp.shape[2]
    # COCO looks up, per recall threshold r, the first detection with tp / n_gt >= r. tp is a whole number, so
    # that is the first with tp >= needed(r): one exact integer searchsorted over every row at once, rows
    # offset by more than any count so they never interleave.
    needed = np.repeat(_needed_true_positives(np.where(present, n_gt, 1.0)), thresholds, axis=0)  # (rows, R)
    stride = int(max(n_gt.max(), 0)) + 2
    offset = stride * np.arange(rows, dtype=np.int64)
    flat = (np.rint(tp).astype(np.int64).reshape(rows, depth) + offset[:, None]).ravel()
    index = np.searchsorted(flat, (needed + offset[:, None]).ravel(), side="left").reshape(rows, -1)
    index -= (depth * np.arange(rows))[:, None]
    valid = index < depth
    picked = np.take_along_axis(precision.reshape(rows, depth), np.minimum(index, depth - 1), axis=1)
    ap = np.where(valid, picked, 0.0).mean(axis=1).reshape(batch, thresholds)
    out[present] = ap[present]
    return out


def _needed_true_positives(n_gt: np.ndarray) -> np.ndarray:
    """(B, R): the least whole tp with tp / n_gt >= r in floating point, as COCO compares, per recall threshold."""
    n = n_gt[:, None]
    need = np.ceil(_REC_THRS[None, :] * n)
    for _ in range(2):  # the product may round either way: settle on the exact float comparison
        need = np.where((need - 1 >= 0) & ((need - 1) / n >= _REC_THRS[None, :]), need - 1, need)
        need = np.where(need / n < _REC_THRS[None, :], need + 1, need)
    return need.astype(np.int64)


class _Cells:
    """COCOeval's per-image matching regrouped as arrays per (category, area range)."""

    def __init__(self, evaluator, image_video: np.ndarray, conf: float):
        params = evaluator.params
        self.thresholds = params.iouThrs
        self.t50 = int(np.argmin(np.abs(self.thresholds - 0.5)))
        self.t75 = int(np.argmin(np.abs(self.thresholds - 0.75)))
        self.categories = list(params.catIds)
        self.areas = list(params.areaRngLbl)
        n_images, n_areas = len(params.imgIds), len(params.areaRng)
        self.cells: dict[tuple[int, int], dict] = {}
        for k in range(len(self.categories)):
            for a in range(n_areas):
                entries = [(i, evaluator.evalImgs[k * n_areas * n_images + a * n_images + i])
                           for i in range(n_images)]
                entries = [(i, e) for i, e in entries if e is not None]
                self.cells[k, a] = self._cell(entries, len(self.thresholds), conf)
        self.image_video = image_video

    @staticmethod
    def _cell(entries, thresholds: int, conf: float) -> dict:
        if not entries:
            empty = np.zeros((thresholds, 0), dtype=bool)
            return {"scores": np.zeros(0), "matched": empty, "ignored": empty, "det_image": np.zeros(0, int),
                    "gt_image": np.zeros(0, int)}
        scores = np.concatenate([np.asarray(e["dtScores"], dtype=float) for _, e in entries])
        matched = np.concatenate([np.asarray(e["dtMatches"]).reshape(thresholds, -1) > 0 for _, e in entries], axis=1)
        ignored = np.concatenate([np.asarray(e["dtIgnore"]).reshape(thresholds, -1).astype(bool) for _, e in entries],
                                 axis=1)
        det_image = np.concatenate([np.full(len(e["dtScores"]), i) for i, e in entries]).astype(int)
        gt_image = np.concatenate([np.full(int((~np.asarray(e["gtIgnore"], dtype=bool)).sum()), i)
                                   for i, e in entries]).astype(int)
        return {"scores": scores, "matched": matched, "ignored": ignored, "det_image": det_image,
                "gt_image": gt_image, "conf": conf}


def _cell_samples(cell: dict, image_weight: np.ndarray, t50: int, conf: float) -> dict[str, np.ndarray]:
    """Per resample: AP (B, T), and the TP / FP / GT counts at IoU 0.5 and score >= conf."""
    det_weight = image_weight[:, cell["det_image"]]
    n_gt = image_weight[:, cell["gt_image"]].sum(axis=1).astype(float)
    aps = [weighted_ap(cell["scores"], cell["matched"], cell["ignored"], det_weight[s:s + CHUNK], n_gt[s:s + CHUNK])
           for s in range(0, len(n_gt), CHUNK)]
    counted = ~cell["ignored"][t50] & (cell["scores"] >= conf)
    hit = cell["matched"][t50] & counted
    return {"ap": np.concatenate(aps, axis=0) if aps else np.zeros((0, len(cell["matched"]))),
            "tp": det_weight @ hit.astype(float), "fp": det_weight @ (counted & ~hit).astype(float), "gt": n_gt}


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

    images = images.reset_index(drop=True)
    videos = sorted(images["video_sha256"].astype(str).unique())
    counts = video_resamples(videos, n, seed)  # (B, V)
    video_index = images["video_sha256"].astype(str).map({v: i for i, v in enumerate(videos)}).to_numpy()
    image_weight = counts[:, video_index].astype(float)  # (B, I) in the images table's order (COCO's ids 1..I)
    evaluator = _run_cocoeval(ground_truth, detections, images, list(class_names))
    cells = _Cells(evaluator, video_index, confidence)
    everything = cells.areas.index("all")
    frames = []

    def add(dimension: str, value: str, metrics: dict[str, np.ndarray]) -> None:
        for metric, samples in metrics.items():
            frames.append(pd.DataFrame({"resample": np.arange(n), "dimension": dimension, "value": value,
                                        "metric": metric, "sample": samples}))

    def run(weight: np.ndarray, area: int, categories: Sequence[int]) -> dict[str, np.ndarray]:
        return _summary([_cell_samples(cells.cells[k, area], weight, cells.t50, confidence) for k in categories],
                        cells.t50, cells.t75)

    all_categories = range(len(cells.categories))
    per_category = [_cell_samples(cells.cells[k, everything], image_weight, cells.t50, confidence)
                    for k in all_categories]
    add("all", "all", _summary(per_category, cells.t50, cells.t75))
    for k, name in enumerate(class_names):
        add("class", str(name), _summary([per_category[k]], cells.t50, cells.t75))
    for label in ("small", "medium", "large"):
        if label in cells.areas:
            add("size", label, run(image_weight, cells.areas.index(label), all_categories))
    for dimension in dimensions:
        values = images[dimension].astype(object).where(images[dimension].notna(), "").astype(str).str.strip()
        values = values.where(values != "", "unknown")
        for value in sorted(values.unique()):
            inside = (values == value).to_numpy()
            add(dimension, value, run(image_weight * inside[None, :], everything, all_categories))
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
