"""Monitoring one scene x day with the champion (and a challenger in shadow), against the champion's baseline."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vision_assets.core.errors import InvalidInput
from vision_assets.core.lake import Lake, keys
from vision_assets.core.monitoring.drift import DEFAULT_PERMUTATIONS, mmd_permutation_test
from vision_assets.core.monitoring.image_stats import IMAGE_STAT_COLUMNS, image_statistics
from vision_assets.core.monitoring.inference import observe, prediction_statistics
from vision_assets.core.monitoring.online import labelled_frames, measure_online, no_online_rates
from vision_assets.core.monitoring.shadow import disagreement_by_class

BASELINE_MAX_FRAMES = 200  # enough for a stable reference; the kernel matrix stays small
RELATIVE_BAND = 0.5  # the detection rate may move this share of the baseline rate before it counts as moved
MIN_BAND = 0.1  # detections per frame: a baseline that saw (almost) nothing still gets a band
SIGMA_BAND = 3.0
# A scene with at least this many training frames is compared with its own training frames: a camera's footage is
# judged against what that camera showed in training (against all scenes, one camera's normal day reads as a
# shift in the mix of scenes). A scene the champion never saw is compared with every training frame.
MIN_SCENE_REFERENCE = 5


@dataclass(frozen=True)
class Model:
    version: str
    weights: Path
    checkpoint_sha256: str
    served: dict | None = None  # the operating point its package serves with (imgsz, conf, iou, max_det)
    trained_videos: frozenset[str] = frozenset()  # videos of its dataset version: not online footage for it


@dataclass(frozen=True)
class Baseline:
    embeddings: np.ndarray
    per_frame_counts: np.ndarray
    frames: int
    scenes: np.ndarray  # the scene of each row

    def reference_for(self, scene: str) -> tuple[Baseline, str]:
        """The scene's own training frames when there are enough of them, else all of them (and which it is)."""
        own = self.scenes == scene
        if own.sum() >= MIN_SCENE_REFERENCE:
            return Baseline(self.embeddings[own], self.per_frame_counts[own], int(own.sum()), self.scenes[own]), scene
        return self, "all scenes"

    def detection_band(self, frames: int) -> tuple[float, float]:
        """Where a partition of this many frames' detection rate may fall without a change of behaviour: the
        baseline rate +- max(3 standard errors, RELATIVE_BAND of the rate, MIN_BAND)."""
        mean = float(self.per_frame_counts.mean()) if len(self.per_frame_counts) else 0.0
        spread = float(self.per_frame_counts.std()) if len(self.per_frame_counts) else 0.0
        half = max(SIGMA_BAND * spread / np.sqrt(max(frames, 1)), RELATIVE_BAND * mean, MIN_BAND)
        return max(mean - half, 0.0), mean + half


def _local_paths(lake: Lake, image_keys: list[str], work_dir: Path) -> list[str]:
    return [str(lake.local_copy(key, work_dir / "frames")) for key in image_keys]


def baseline_frames(manifest: pd.DataFrame, *, max_frames: int = BASELINE_MAX_FRAMES, seed: int = 0) -> pd.DataFrame:
    """The training split's frames (image_path as lake keys, scene), a seeded sample when there are more than
    max_frames."""
    train = manifest[manifest["split"] == "train"].sort_values("sample_id")
    if len(train) > max_frames:
        train = train.sample(max_frames, random_state=seed).sort_values("sample_id")
    return train[["image_path", "scene"]].reset_index(drop=True)


def champion_baseline(lake: Lake, champion: Model, manifest_key: str, *, imgsz: int, work_dir: Path,
                      device: str = "auto") -> Baseline:
    """Made once per champion checkpoint and cached in the lake under its sha256."""
    key = keys.monitoring_baseline_key(champion.checkpoint_sha256)
    if lake.exists(key):
        stored = np.load(io.BytesIO(lake.fs.cat_file(lake.resolve(key))))
        return Baseline(stored["embeddings"], stored["per_frame_counts"], int(len(stored["per_frame_counts"])),
                        stored["scenes"])
    frames = baseline_frames(pd.read_parquet(lake.local_copy(manifest_key, work_dir / "manifests")))
    if len(frames) < 2:
        raise InvalidInput(object=manifest_key, problem=f"the champion's training split has {len(frames)} frames; a "
                           "drift baseline needs at least 2")
    paths = _local_paths(lake, frames["image_path"].tolist(), work_dir)
    seen = observe(champion.weights, paths, work_dir=work_dir, imgsz=imgsz, device=device)
    counts = prediction_statistics(seen.detections, paths)["per_frame_counts"]
    buffer = io.BytesIO()
    scenes = frames["scene"].to_numpy(str)
    np.savez(buffer, embeddings=seen.embeddings.astype(np.float32), per_frame_counts=counts, scenes=scenes)
    lake.write_bytes(key, buffer.getvalue())
    return Baseline(seen.embeddings.astype(np.float32), counts, len(paths), scenes)


def monitor_partition(lake: Lake, scene: str, day: str, champion: Model, baseline: Baseline, *, imgsz: int,
                      work_dir: Path, device: str = "auto", challenger: Model | None = None,
                      permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0) -> dict:
    """The partition's summary (also written as its one-row footage_monitoring table)."""
    partition = {"scene": scene, "day": day}
    baseline, reference = baseline.reference_for(scene)
    frames = lake.read_table(keys.SAMPLED_FRAMES, partition)
    image_keys = [] if frames is None else frames["image_path"].tolist()
    paths = _local_paths(lake, image_keys, work_dir)
    summary: dict = {"scene": scene, "day": day, "champion_version": champion.version,
                     "champion_checkpoint_sha256": champion.checkpoint_sha256, "baseline_frames": baseline.frames,
                     "baseline_reference": reference}
    images = image_statistics(paths)
    summary.update({f"{c}_mean": float(images[c].mean()) if images[c].notna().any() else float("nan")
                    for c in IMAGE_STAT_COLUMNS})
    summary["unreadable_frames"] = int((~images["readable"]).sum())
    seen = observe(champion.weights, paths, work_dir=work_dir, imgsz=imgsz, device=device) if paths else None
    stats = prediction_statistics(seen.detections if seen else pd.DataFrame(columns=["image_path", "class_name",
                                                                                     "score"]), paths)
    stats.pop("per_frame_counts")
    low, high = baseline.detection_band(len(paths))
    summary.update(stats, detection_band_low=low, detection_band_high=high,
                   predictions_stable=bool(low <= stats["detections_per_frame"] <= high) if paths else True)
    if seen is not None and len(paths) >= 2:
        test = mmd_permutation_test(baseline.embeddings, seen.embeddings, permutations=permutations, seed=seed)
        summary.update(drift_score=test.score, drift_p_value=test.p_value, drift_permutations=test.permutations,
                       embedding_layer=seen.embedding_layer)
    else:
        summary.update(drift_score=float("nan"), drift_p_value=float("nan"), drift_permutations=0, embedding_layer=-1)
    summary["latency_p50_ms"], summary["latency_p95_ms"] = seen.latency_percentiles() if seen else (float("nan"),) * 2
    summary["challenger_version"] = challenger.version if challenger else ""
    summary["challenger_latency_p50_ms"], summary["challenger_latency_p95_ms"] = float("nan"), float("nan")
    summary["challenger_detections_per_frame"] = float("nan")
    shadow = pd.DataFrame(columns=["class_name", "boxes", "unmatched", "class_changes", "disagreement_rate"])
    if challenger is not None and seen is not None:
        other = observe(challenger.weights, paths, work_dir=work_dir, imgsz=imgsz, device=device)
        shadow = disagreement_by_class(seen.detections, other.detections, paths)
        summary["challenger_latency_p50_ms"], summary["challenger_latency_p95_ms"] = other.latency_percentiles()
        summary["challenger_detections_per_frame"] = len(other.detections) / max(len(paths), 1)
    total = int(shadow["boxes"].sum())
    summary["shadow_disagreement_rate"] = (float((shadow["unmatched"] + shadow["class_changes"]).sum() / total)
                                           if total else 0.0)
    summary["shadow_by_class"] = shadow.to_dict("records")
    summary.update(online_accuracy(lake, scene, day, champion, challenger, work_dir=work_dir, device=device))
    lake.write_table(keys.FOOTAGE_MONITORING, _as_row(summary), partition)
    return summary


def online_accuracy(lake: Lake, scene: str, day: str, champion: Model, challenger: Model | None, *, work_dir: Path,
                    device: str = "auto") -> dict:
    """The champion's online rates on the partition's returned labels (online_*), and the challenger's or canary's on
    the same frames (challenger_online_*); frames of either model's own dataset are left out."""
    exclude = set(champion.trained_videos) | (set(challenger.trained_videos) if challenger else set())
    labelled = labelled_frames(lake, scene, day, exclude_videos=exclude)
    rates = {**no_online_rates(), **{f"challenger_{k}": v for k, v in no_online_rates().items()}}
    if labelled is None or champion.served is None:
        return rates
    rates.update(measure_online(lake, labelled, champion.weights, champion.served, work_dir=work_dir, device=device))
    if challenger is not None and challenger.served is not None:
        other = measure_online(lake, labelled, challenger.weights, challenger.served, work_dir=work_dir, device=device)
        rates.update({f"challenger_{k}": v for k, v in other.items()})
    return rates


def _as_row(summary: dict) -> pd.DataFrame:
    """Nested values (per class) as JSON text, so the lake-wide table reads back with one schema."""
    return pd.DataFrame([{k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in summary.items()}])
