"""Bootstrap over videos: the weighted accumulation is COCOeval's own, resamples are paired across evaluations, and
intervals come out where they must on synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vision_assets.core.evaluation.bootstrap import (
    bootstrap_samples,
    intervals,
    paired_delta,
    percentile_interval,
    slice_videos,
    video_resamples,
)
from vision_assets.core.evaluation.metrics import evaluate_detections

CLASSES = ["car", "person"]


def synthetic(seed: int = 0, videos: int = 4, frames: int = 5, hit_rate: tuple[float, ...] = (0.9, 0.8, 0.5, 0.3)):
    """(gt, detections, images): per video a different hit rate, boxes jittered, false alarms sprinkled."""
    rng = np.random.default_rng(seed)
    gt, dets, images = [], [], []
    for v in range(videos):
        for f in range(frames):
            image_id = f"v{v}_f{f}"
            images.append({"image_id": image_id, "width": 640, "height": 480, "video_sha256": f"video{v}",
                           "scene": "north" if v % 2 == 0 else "south"})
            for b in range(3):
                x, y = 40 + 150 * b, 60 + 20 * f
                name = CLASSES[b % 2]
                gt.append((image_id, name, x, y, x + 60 + 10 * b, y + 80))
                if rng.random() < hit_rate[v % len(hit_rate)]:
                    jitter = rng.normal(0, 4, 4)
                    dets.append((image_id, name, x + jitter[0], y + jitter[1], x + 60 + 10 * b + jitter[2],
                                 y + 80 + jitter[3], float(rng.uniform(0.3, 1.0))))
            if rng.random() < 0.5:
                dets.append((image_id, CLASSES[f % 2], 500, 300, 560, 380, float(rng.uniform(0.0, 0.6))))
    gt = pd.DataFrame(gt, columns=["image_id", "class_name", "x1", "y1", "x2", "y2"])
    dets = pd.DataFrame(dets, columns=["image_id", "class_name", "x1", "y1", "x2", "y2", "score"])
    return gt, dets, pd.DataFrame(images)


def test_resamples_draw_every_video_count_once_per_draw_and_are_seeded():
    counts = video_resamples(["b", "a", "c"], n=500, seed=1)
    assert counts.shape == (500, 3) and (counts.sum(axis=1) == 3).all()
    assert np.array_equal(counts, video_resamples(["c", "a", "b"], n=500, seed=1))  # sorted order: same draws
    assert not np.array_equal(counts, video_resamples(["a", "b", "c"], n=500, seed=2))
    assert counts.mean() == pytest.approx(1.0, abs=0.05)  # each video drawn once per resample on average


def test_percentile_interval_of_known_samples():
    assert percentile_interval(np.arange(1001.0)) == pytest.approx((25.0, 975.0))
    assert percentile_interval(np.array([np.nan, np.nan])) == (None, None)


def test_weighted_accumulation_equals_cocoeval_on_the_resample_written_out():
    """A resample counting video 0 twice and video 3 not at all is the same as COCOeval on a test set where video 0's
    images appear twice (under new ids) and video 3's not at all."""
    gt, dets, images = synthetic()
    samples = bootstrap_samples(gt, dets, images=images, class_names=CLASSES, confidence=0.5, n=40, seed=7)
    counts = video_resamples(sorted(images["video_sha256"].unique()), n=40, seed=7)
    for resample in (0, 1, 2):
        copies = []
        for v, count in enumerate(counts[resample]):
            for c in range(count):
                ids = images[images["video_sha256"] == f"video{v}"]["image_id"]
                rename = {i: f"{i}_copy{c}" for i in ids}
                copies.append((images[images["image_id"].isin(ids)].replace({"image_id": rename}),
                               gt[gt["image_id"].isin(ids)].replace({"image_id": rename}),
                               dets[dets["image_id"].isin(ids)].replace({"image_id": rename})))
        expanded = [pd.concat(parts, ignore_index=True) for parts in zip(*copies)]
        reference = evaluate_detections(expanded[1], expanded[2], images=expanded[0], class_names=CLASSES,
                                        score_threshold=0.5).as_dict()
        ours = samples[(samples["resample"] == resample) & (samples["dimension"] == "all")].set_index("metric")["sample"]
        for metric in ("map50_95", "map50", "map75", "precision", "recall"):
            assert ours[metric] == pytest.approx(reference[metric], abs=1e-9), (resample, metric)


def test_a_model_equally_good_on_every_video_has_a_zero_width_interval():
    gt, dets, images = synthetic(hit_rate=(1.0,))
    dets = dets[dets["x1"] < 480]  # no false alarms: every video is perfect
    samples = bootstrap_samples(gt, dets, images=images, class_names=CLASSES, confidence=0.25, n=200)
    rows = {(r["dimension"], r["value"], r["metric"]): r
            for r in intervals(samples, slice_videos(images, gt, ["scene"]))}
    assert rows[("all", "all", "recall")]["low"] == rows[("all", "all", "recall")]["high"] == 1.0
    assert rows[("all", "all", "precision")]["low"] == 1.0


def test_videos_that_differ_give_an_interval_around_the_estimate_and_single_video_slices_none():
    gt, dets, images = synthetic(videos=6)
    samples = bootstrap_samples(gt, dets, images=images, class_names=CLASSES, confidence=0.25, dimensions=["scene"])
    per_slice = slice_videos(images, gt, ["scene"])
    rows = {(r["dimension"], r["value"], r["metric"]): r for r in intervals(samples, per_slice)}
    point = evaluate_detections(gt, dets, images=images, class_names=CLASSES, score_threshold=0.25).as_dict()
    recall = rows[("all", "all", "recall")]
    # Per-video hit rates from 0.3 to 0.9: the interval is wide and holds the estimate.
    assert recall["low"] < point["recall"] < recall["high"] and recall["high"] - recall["low"] > 0.1
    assert rows[("scene", "north", "map50")]["n_videos"] == 3 and rows[("scene", "north", "map50")]["low"] is not None
    one_video = {(r["dimension"], r["value"], r["metric"]): r
                 for r in intervals(samples, {**per_slice, ("scene", "north"): 1})}
    assert one_video[("scene", "north", "map50")]["low"] is None


def test_paired_delta_of_an_evaluation_with_itself_is_zero_and_a_worse_model_is_below_zero():
    gt, dets, images = synthetic(videos=6)
    before = bootstrap_samples(gt, dets, images=images, class_names=CLASSES, confidence=0.25, n=300)
    same = paired_delta(before, before).set_index(["dimension", "value", "metric"]).dropna()  # no small boxes
    assert len(same) >= 5 and (same["delta_low"] == 0).all() and (same["delta_high"] == 0).all()
    worse = dets.drop(dets.index[::2])  # half the detections gone on every video
    after = bootstrap_samples(gt, worse, images=images, class_names=CLASSES, confidence=0.25, n=300)
    delta = paired_delta(before, after).set_index(["dimension", "value", "metric"])
    assert delta.loc[("all", "all", "recall"), "delta_high"] < 0
